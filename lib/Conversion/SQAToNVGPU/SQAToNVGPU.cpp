//===- SQAToNVGPU.cpp - FlashAttention-2 tensor-core kernel ---------------===//
//
// Lowers buffer-semantics sqa.attention to FlashAttention-2's forward kernel
// (Dao, "FlashAttention-2: Faster Attention with Better Parallelism and Work
// Partitioning", 2023) for sm_80: the forward's step list (FlashForward.h)
// with its sm_80 backend, at the level of one thread: nvgpu.ldmatrix /
// mma.sync fragments, cp.async copies and warp shuffles. Upstream's
// vector-to-nvgpu path (convert-vector-to-gpu with use-nvgpu) distributes
// vector.contract and transfer ops to mma.sync fragments, but not the row
// reductions of the softmax nor the reuse of an accumulator as the A operand
// of the next product; both are the heart of this kernel, so the fragments
// are laid out here by hand.
//
// The warp-level pieces (fragment layouts, mma.sync, ldmatrix, cp.async
// copies, the shared tiles' padded rows, quad reductions) come from
// sqa/GPU/WarpTensorCore.h.
//
//===----------------------------------------------------------------------===//

#include "sqa/Conversion/SQAToNVGPU/SQAToNVGPU.h"

#include "FlashForward.h"
#include "FlashKernelCommon.h"

#include "sqa/Dialect/SQA/IR/SQAOps.h"
#include "sqa/Dialect/SQA/Utils/AttentionUtils.h"
#include "sqa/GPU/WarpTensorCore.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <limits>

namespace mlir {
namespace sqa {
#define GEN_PASS_DEF_CONVERTSQATONVGPUPASS
#include "sqa/Conversion/Passes.h.inc"
} // namespace sqa
} // namespace mlir

using namespace mlir;
using namespace mlir::sqa;


namespace {
/// The sm_80 backend of the forward's step list (FlashForwardKernel):
/// mma.sync fragments, ldmatrix, cp.async and quad shuffles from
/// WarpTensorCore.h.
///
/// Each warp owns `plan.rowTiles` m16 row tiles of query rows, so a thread
/// holds rows g and g + 8 of each (a group of two rows per row tile); the
/// block's warps share one Q tile and one K and one V block in shared
/// memory, each a cp.async group of its own. The prologue's copies of the
/// last kv-block are bounds-checked and zero-filled; the loop's carry no
/// bounds code, their addresses affine in the loop index (LLVM advances one
/// pointer per copied row by a constant per block).
class Sm80FlashForward final : public FlashForwardKernel {
public:
  Sm80FlashForward(OpBuilder &b, Location loc, AttentionOp op,
                   const ForwardPlan &plan, gpu::LaunchOp launch,
                   ValueRange shared)
      : FlashForwardKernel(b, loc, op, plan, launch), sharedQ(shared[0]),
        sharedK(shared[1]), sharedV(shared[2]),
        tc(b, loc, op.getQueryType().getElementType()) {}

private:
  void buildThreadIds() override {
    thread = launch.getThreadIds().x;
    warp = div(thread, kThreadsPerWarp);
    lane = rem(thread, kThreadsPerWarp);
    group = div(lane, 4);
    threadInGroup = rem(lane, 4);
  }

  void buildRows() override {
    // The warp's first row in the Q tile, and this thread's rows: fragment
    // rows g and g + 8 of each row tile, as i32, which the epilogue reads
    // back (they live through the loop in one register each, not two), with
    // their visible keys for the mask.
    warpRow = mul(warp, plan.warpRows);
    for (int64_t m = 0; m < plan.rowTiles; ++m) {
      Value row = add(add(add(firstRow, warpRow), m * kMmaM), group);
      rows32.append({toI32(row), toI32(add(row, kMmaM / 2))});
      rowKeys.push_back(
          buildQueryRowKeys(b, loc, op, row, querySeqLen, keySeqLen));
    }
  }
  int64_t getRowsPerGroup() const override { return 2; }
  int64_t getNumRowGroups() const override { return plan.rowTiles; }
  Value buildRowIndex(int64_t row) override {
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), rows32[row]);
  }

  /// Copies rows [rowStart, rowStart + rows) of `source`'s head `head` into
  /// `tile` as one cp.async group; returns its token.
  Value copyTile(Value source, Value head, Value rowStart, Value seqLen,
                 int64_t rows, int64_t width, Value tile, bool wholeRows) {
    SmallVector<Value> tokens = tc.buildTileCopy(
        {source, batch, head, rowStart, seqLen, rows, width, tile,
         std::nullopt, thread, plan.numWarps * kThreadsPerWarp, wholeRows});
    return nvgpu::DeviceAsyncCreateGroupOp::create(
               b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens)
        .getResult();
  }
  void copyQueryTile() override {
    queryGroup = copyTile(op.getQuery(), queryHead, firstRow, querySeqLen,
                          plan.blockRows, headDim, sharedQ,
                          /*wholeRows=*/false);
  }
  void copyKeyBlock(Value block, bool wholeRows) override {
    copyTile(op.getKey(), kvHead, mul(block, plan.keyBlock), keySeqLen,
             plan.keyBlock, headDim, sharedK, wholeRows);
  }
  void copyValueBlock(Value block, bool wholeRows) override {
    copyTile(op.getValue(), kvHead, mul(block, plan.keyBlock), keySeqLen,
             plan.keyBlock, valueHeadDim, sharedV, wholeRows);
  }
  /// Every copy this thread issued has landed (the token only names a
  /// group; 0 groups may stay in flight), then every thread's, for the
  /// block.
  void waitForCopies() override {
    nvgpu::DeviceAsyncWaitOp::create(b, loc, queryGroup,
                                     b.getI32IntegerAttr(0));
    gpu::BarrierOp::create(b, loc);
  }
  /// The lanes' ldmatrix addresses, and the warp's Q fragments of the first
  /// plan.heldQuerySteps k-steps in registers for the whole loop (the rest
  /// are read from the Q tile at each k-step).
  void buildLoopInvariants() override {
    lanes = tc.buildLaneAddressing(lane);
    if (plan.heldQuerySteps == 0)
      return;
    waitForCopies();
    for (int64_t m = 0; m < plan.rowTiles; ++m)
      llvm::append_range(
          queryFragments,
          tc.buildLoadRowFragments(
              {sharedQ, std::nullopt, add(warpRow, m * kMmaM), headDim},
              lanes, plan.heldQuerySteps));
  }

  int64_t getScoreTilesPerGroup() const override {
    return plan.keyBlock / kMmaN;
  }
  int64_t getAccumulatorTilesPerGroup() const override {
    return valueHeadDim / kMmaN;
  }
  Value buildZeroAccumulator() override { return tc.buildZeroAccumulator(); }
  /// S = Q Kᵀ on (warpRows x keyBlock) per warp.
  SmallVector<Value> buildScores() override {
    SmallVector<Value> scores(plan.rowTiles * getScoreTilesPerGroup(),
                              tc.buildZeroAccumulator());
    tc.buildProductWithTransposed(
        {sharedQ, std::nullopt, warpRow, headDim},
        {sharedK, std::nullopt, index(0), headDim}, lanes, scores,
        plan.rowTiles, queryFragments);
    return scores;
  }
  void maskScores(MutableArrayRef<Value> scores, Value blockStart,
                  Value fullyVisible) override {
    // Tile n of a row tile holds keys column + 8 n and column + 8 n + 1.
    Value column = add(blockStart, mul(threadInGroup, 2));
    int64_t tiles = getScoreTilesPerGroup();
    for (int64_t m = 0; m < plan.rowTiles; ++m) {
      MutableArrayRef<Value> rowTile = scores.slice(m * tiles, tiles);
      SmallVector<Value> masked = buildMaskedScores(
          b, loc, rowTile, fullyVisible, rowKeys[m], column);
      llvm::copy(masked, rowTile.begin());
    }
  }
  Value buildRowMax(ArrayRef<Value> groupTiles, int64_t row) override {
    return tc.buildQuadReduction(
        tc.buildRowReduction(groupTiles, row, RowReduction::Max),
        RowReduction::Max);
  }
  SmallVector<Value>
  buildElementwise(ArrayRef<Value> groupTiles,
                   function_ref<Value(Value, int64_t)> exponent) override {
    SmallVector<Value> results;
    for (Value tile : groupTiles) {
      SmallVector<Value> elements;
      for (int64_t i = 0; i < 4; ++i)
        elements.push_back(exponent(
            vector::ExtractOp::create(b, loc, tile,
                                      ArrayRef<int64_t>{i / 2, i % 2}),
            i / 2));
      results.push_back(vector::FromElementsOp::create(
          b, loc, tc.getAccumulatorType(), elements));
    }
    return results;
  }
  Value buildThreadRowSum(ArrayRef<Value> groupTiles, int64_t row) override {
    return tc.buildRowReduction(groupTiles, row, RowReduction::Sum);
  }
  Value buildRowSumAcrossLanes(Value threadSum) override {
    return tc.buildQuadReduction(threadSum, RowReduction::Sum);
  }
  /// The C fragments of S tiles 2j and 2j + 1 are the A fragment of P for
  /// keys [16 j, 16 j + 16).
  SmallVector<Value> buildProbabilityOperand(ArrayRef<Value> probs) override {
    return tc.buildAccumulatorsAsAFragments(probs);
  }
  Value buildScaledAccumulator(Value tile, ArrayRef<Value> factors) override {
    return arith::MulFOp::create(b, loc, tile,
                                 tc.buildRowPair(factors[0], factors[1]));
  }
  void accumulateValueProduct(ArrayRef<Value> probs,
                              MutableArrayRef<Value> acc) override {
    tc.buildProductFromFragments(
        probs, {sharedV, std::nullopt, index(0), valueHeadDim}, lanes,
        acc, plan.rowTiles);
  }

  void storeOutputRow(int64_t row, Value rowIndex, ArrayRef<Value> groupAcc,
                      Value inverseSum) override {
    Type outElementType = op.getOutputType().getElementType();
    for (auto [n, tile] : llvm::enumerate(groupAcc)) {
      Value pair = vector::ExtractOp::create(b, loc, tile, row % 2);
      pair = arith::MulFOp::create(
          b, loc, pair,
          vector::BroadcastOp::create(b, loc, pair.getType(), inverseSum));
      if (!outElementType.isF32())
        pair = arith::TruncFOp::create(
            b, loc, VectorType::get({2}, outElementType), pair);
      vector::StoreOp::create(
          b, loc, pair, op.getOutput(),
          ValueRange{batch, head, rowIndex,
                     add(mul(threadInGroup, 2), index(n * kMmaN))});
    }
  }
  /// The first lane of the quad stores it.
  void storeLse(Value rowIndex, function_ref<Value()> buildLse) override {
    Value isLeader = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                           threadInGroup, index(0));
    auto leader = scf::IfOp::create(b, loc, isLeader, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(leader.thenBlock()->getTerminator());
    memref::StoreOp::create(b, loc, buildLse(), op.getLse(),
                            ValueRange{batch, head, rowIndex});
  }

  Value sharedQ, sharedK, sharedV;
  WarpTensorCoreBuilder tc;
  Value thread, warp, lane, group, threadInGroup, warpRow;
  /// This thread's rows (i32) and their visible keys, per row tile.
  SmallVector<Value> rows32;
  SmallVector<QueryRowKeys> rowKeys;
  /// The Q tile's cp.async group, whose token the waits name.
  Value queryGroup;
  WarpTensorCoreBuilder::LaneAddressing lanes;
  SmallVector<Value> queryFragments;
};
} // namespace

/// Replaces `op` by a gpu.launch of the tensor-core kernel.
static void lowerToTensorCoreKernel(RewriterBase &rewriter, AttentionOp op,
                                    const TensorCoreKernelOptions &passOptions) {
  ForwardPlan plan = getForwardPlan(op, passOptions);
  Location loc = op.getLoc();
  // Grid (q-blocks, output heads, batch), as FlashAttention-2; the plan's
  // shared tiles.
  createKernelLaunch(rewriter, op, op.getQuery(), plan.blockRows,
                     op.getNumOutputHeads(), plan.numWarps, plan.tiles,
                     [&](gpu::LaunchOp launch, ValueRange shared) {
                       Sm80FlashForward(rewriter, loc, op, plan, launch,
                                        shared)
                           .build();
                     });
  rewriter.eraseOp(op);
}

namespace {
struct ConvertSQAToNVGPUPass
    : sqa::impl::ConvertSQAToNVGPUPassBase<ConvertSQAToNVGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    // The tiles come from each op's schedule (sqa-choose-schedule); an op
    // without one gets the choice of the default options, as
    // sqa-choose-schedule would make it.
    TensorCoreKernelOptions options;
    // In strict mode, every op must have a kernel.
    if (strict) {
      auto check = [&](auto op) {
        std::string reason = op.hasPureBufferSemantics()
                                 ? getTensorCoreIncompatibility(op, options)
                                 : "the op must be bufferized first";
        if (reason.empty())
          return WalkResult::advance();
        op.emitOpError("has no tensor-core kernel: ") << reason;
        return WalkResult::interrupt();
      };
      WalkResult walk = getOperation()->walk([&](Operation *op) {
        return TypeSwitch<Operation *, WalkResult>(op)
            .Case<AttentionOp, AttentionGradOp>(check)
            .Default([](Operation *) { return WalkResult::advance(); });
      });
      if (walk.wasInterrupted())
        return signalPassFailure();
    }
    // Each op is replaced once by IR that contains no sqa op: one walk, not a
    // fixpoint driver that would also fold the surrounding code.
    RewritePatternSet patterns(&getContext());
    populateSQAToNVGPUConversionPatterns(patterns, options);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};
} // namespace

void mlir::sqa::populateSQAToNVGPUConversionPatterns(
    RewritePatternSet &patterns, const TensorCoreKernelOptions &options) {
  patterns.add<TensorCoreKernelPattern<AttentionOp, lowerToTensorCoreKernel>>(
      patterns.getContext(), options);
  populateAttentionGradToNVGPUPatterns(patterns, options);
}
