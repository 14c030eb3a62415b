//===- FlashForward.h - The FlashAttention-2 forward, step by step -*- C++ -*-//
//
// The forward kernel's step list, written once: FlashAttention-2's prologue,
// its loop over kv-blocks (copy, wait, scores, mask, row max, exponents, row
// sums, rescale, P V) and its epilogue (O / l, lse), with the online
// softmax's recurrence between them. A backend supplies the lanes: how this
// thread's rows are laid out, how tiles are copied and multiplied, how a
// row is reduced across the lanes that share it, how results are stored.
// The sm_80 backend (SQAToNVGPU.cpp) is mma.sync fragments from
// sqa/GPU/WarpTensorCore.h; a new chip is a new backend of the same steps
// and of its plan, not a new builder.
//
// Internal to convert-sqa-to-nvgpu.
//
//===----------------------------------------------------------------------===//

#ifndef LIB_CONVERSION_SQATONVGPU_FLASHFORWARD_H
#define LIB_CONVERSION_SQATONVGPU_FLASHFORWARD_H

#include "FlashKernelCommon.h"

#include "sqa/Dialect/SQA/IR/SQAOps.h"
#include "sqa/Dialect/SQA/Utils/AttentionUtils.h"
#include "sqa/GPU/KernelSchedule.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace mlir {
namespace sqa {

/// One thread's FlashAttention-2 forward for the q-block of its gpu.launch
/// block. build() is the step list; the virtual hooks are the backend.
///
/// The thread holds the softmax state of getNumRows() query rows, in
/// groups of getRowsPerGroup() rows whose scores share tiles (sm_80: the
/// two fragment rows g and g + 8 of one m16 row tile). Score and
/// accumulator tiles are the backend's values, kept by the step list in
/// group-major lists of getScoreTilesPerGroup() and
/// getAccumulatorTilesPerGroup() tiles per group; a row's reference and sum
/// are f32 scalars.
///
/// The order is FlashAttention-2's (docs/kernels.md): the Q tile and the
/// last kv-block's K and V in the prologue (the last block alone may end
/// past the keys, so the loop's copies are unchecked); kv-blocks visited
/// last to first; in each, V of this block is copied while S = Q Kᵀ runs
/// and K of the next while its softmax and O += P V run, so one K and one V
/// buffer suffice. The reference trails the row max by the plan's
/// referenceTrail, and O and l are rescaled only where a row's reference
/// moved.
class FlashForwardKernel : protected KernelArithmetic {
public:
  FlashForwardKernel(OpBuilder &b, Location loc, AttentionOp op,
                     const ForwardPlan &plan, gpu::LaunchOp launch)
      : KernelArithmetic(b, loc), op(op), plan(plan), launch(launch),
        headDim(op.getHeadDim()), valueHeadDim(op.getValueHeadDim()) {}
  virtual ~FlashForwardKernel() = default;

  /// Builds the kernel at the builder's insertion point.
  void build();

protected:
  //===--------------------------------------------------------------------===//
  // The lanes: what the step list asks of a backend, in the order it asks.
  //===--------------------------------------------------------------------===//

  /// This thread's ids (built first, before the block's).
  virtual void buildThreadIds() = 0;
  /// This thread's rows of the q-block (from `firstRow`, set before) and
  /// what they see: built once, before the loop.
  virtual void buildRows() = 0;
  virtual int64_t getRowsPerGroup() const = 0;
  virtual int64_t getNumRowGroups() const = 0;
  int64_t getNumRows() const { return getRowsPerGroup() * getNumRowGroups(); }
  /// Row `row` of this thread's rows, as an index (built where asked).
  virtual Value buildRowIndex(int64_t row) = 0;

  /// Asynchronous copies into the kernel's shared tiles: the q-block's Q,
  /// and K or V of kv-block `block` (`wholeRows` where every row of the
  /// block is below the key count: no bounds checks).
  virtual void copyQueryTile() = 0;
  virtual void copyKeyBlock(Value block, bool wholeRows) = 0;
  virtual void copyValueBlock(Value block, bool wholeRows) = 0;
  /// Waits until every copy issued so far has landed and is visible to the
  /// whole block (and every thread is past the reads before it).
  virtual void waitForCopies() = 0;
  /// What the loop reads but never changes (lane addresses, the part of Q
  /// kept in registers), built after the prologue's copies are issued.
  virtual void buildLoopInvariants() = 0;

  virtual int64_t getScoreTilesPerGroup() const = 0;
  virtual int64_t getAccumulatorTilesPerGroup() const = 0;
  virtual Value buildZeroAccumulator() = 0;
  /// S = Q Kᵀ of the block in the K buffer, unscaled: the score tiles.
  virtual SmallVector<Value> buildScores() = 0;
  /// `scores` with -inf where a row does not see a key of the block that
  /// starts at key `blockStart`; unchanged under `fullyVisible`.
  virtual void maskScores(MutableArrayRef<Value> scores, Value blockStart,
                          Value fullyVisible) = 0;
  /// Row `row` (of getRowsPerGroup()) of one group's score tiles, reduced
  /// to its maximum over every lane that holds part of it.
  virtual Value buildRowMax(ArrayRef<Value> groupTiles, int64_t row) = 0;
  /// `exponent(score, row)` for every element of one group's tiles.
  virtual SmallVector<Value>
  buildElementwise(ArrayRef<Value> groupTiles,
                   function_ref<Value(Value, int64_t)> exponent) = 0;
  /// Row `row` of one group's probability tiles summed over this thread's
  /// elements only; buildRowSumAcrossLanes finishes the sum in the
  /// epilogue (the recurrence is linear in it).
  virtual Value buildThreadRowSum(ArrayRef<Value> groupTiles, int64_t row) = 0;
  virtual Value buildRowSumAcrossLanes(Value threadSum) = 0;
  /// P as the operand of O += P V (the element type's rounding happens
  /// here, before the rescale: half the registers).
  virtual SmallVector<Value> buildProbabilityOperand(ArrayRef<Value> probs) = 0;
  /// An accumulator tile of one group times its rows' `factors`.
  virtual Value buildScaledAccumulator(Value tile, ArrayRef<Value> factors) = 0;
  /// acc += P V, V the block in the V buffer.
  virtual void accumulateValueProduct(ArrayRef<Value> probs,
                                      MutableArrayRef<Value> acc) = 0;

  /// Stores row `row` (query row `rowIndex`): its group's accumulator tiles
  /// `groupAcc` times `inverseSum`, in the output's element type. Called
  /// only for rows below the query count.
  virtual void storeOutputRow(int64_t row, Value rowIndex,
                              ArrayRef<Value> groupAcc, Value inverseSum) = 0;
  /// Stores query row `rowIndex`'s lse, `buildLse()`, from the lanes that
  /// own it.
  virtual void storeLse(Value rowIndex, function_ref<Value()> buildLse) = 0;

  //===--------------------------------------------------------------------===//
  // What the step list builds for every backend, set before the hooks that
  // read them.
  //===--------------------------------------------------------------------===//

  AttentionOp op;
  const ForwardPlan &plan;
  gpu::LaunchOp launch;
  int64_t headDim, valueHeadDim;
  /// Sq and Skv (dims of the buffers, so that they are the kernel's only
  /// operands), the grid's batch and output head with the heads it reads,
  /// and the q-block's first row.
  Value querySeqLen, keySeqLen;
  Value batch, head, queryHead, kvHead;
  Value firstRow;
};

} // namespace sqa
} // namespace mlir

#endif // LIB_CONVERSION_SQATONVGPU_FLASHFORWARD_H
