//===- SQAToNVGPU.cpp - FlashAttention-2 tensor-core kernel ---------------===//
//
// Lowers buffer-semantics sqa.attention to FlashAttention-2's forward kernel
// (Dao, "FlashAttention-2: Faster Attention with Better Parallelism and Work
// Partitioning", 2023) for sm_80, written directly at the level of one
// thread: nvgpu.ldmatrix / mma.sync fragments, cp.async copies and warp
// shuffles. Upstream's vector-to-nvgpu path (convert-vector-to-gpu with
// use-nvgpu) distributes vector.contract and transfer ops to mma.sync
// fragments, but not the row reductions of the softmax nor the reuse of an
// accumulator as the A operand of the next product; both are the heart of
// this kernel, so the fragments are laid out here by hand.
//
// The warp-level pieces (fragment layouts, mma.sync, ldmatrix, cp.async
// copies, the shared tiles' padded rows, quad reductions) come from
// sqa/GPU/WarpTensorCore.h.
//
//===----------------------------------------------------------------------===//

#include "sqa/Conversion/SQAToNVGPU/SQAToNVGPU.h"

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
/// Builds the body of one FlashAttention-2 kernel inside a gpu.launch. Index
/// arithmetic is plain arith on `index`; canonicalization folds the
/// constants.
///
/// Each warp owns `rowTiles` m16 row tiles of query rows; the block's warps
/// share one Q tile and one K and one V block in shared memory. As in
/// FlashAttention-2, K and V are separate cp.async groups: V of block j is
/// copied while S = Q Kᵀ of block j runs, K of the next block while the
/// softmax and O += P V of block j run, so one buffer of each suffices.
///
/// Also as FlashAttention-2, the kv-blocks are visited last to first: the
/// only block that can end past the keys (the ragged one) is the last, so
/// its K and V are copied in the prologue with bounds checks and zero-fill,
/// and the loop's copies are unchecked, their addresses affine in the loop
/// index (LLVM advances one pointer per copied row by a constant per
/// block).
class FlashKernelBuilder : KernelArithmetic {
public:
  FlashKernelBuilder(OpBuilder &b, Location loc, AttentionOp op,
                     const ForwardPlan &plan, gpu::LaunchOp launch,
                     ValueRange shared)
      : KernelArithmetic(b, loc), op(op), launch(launch), shared(shared),
        tc(b, loc, op.getQueryType().getElementType()), plan(plan),
        headDim(op.getHeadDim()), valueHeadDim(op.getValueHeadDim()),
        f32(b.getF32Type()) {}

  void build();

private:
  AttentionOp op;
  gpu::LaunchOp launch;
  /// The Q tile, the K block and the V block in shared memory.
  ValueRange shared;
  WarpTensorCoreBuilder tc;
  /// Every decision of the kernel (getForwardPlan).
  const ForwardPlan &plan;
  int64_t headDim, valueHeadDim;
  Type f32;
};
} // namespace

void FlashKernelBuilder::build() {
  MLIRContext *ctx = b.getContext();
  const float negInf = -std::numeric_limits<float>::infinity();
  Value query = op.getQuery(), key = op.getKey(), value = op.getValue();
  Value out = op.getOutput(), lse = op.getLse();
  Value sharedQ = shared[0], sharedK = shared[1], sharedV = shared[2];

  // Sizes, read inside the kernel so that the buffers are its only operands.
  Value querySeqLen = memref::DimOp::create(b, loc, query, 2);
  Value keySeqLen = memref::DimOp::create(b, loc, key, 2);

  Value thread = launch.getThreadIds().x;
  Value warp = div(thread, kThreadsPerWarp);
  Value lane = rem(thread, kThreadsPerWarp);
  Value group = div(lane, 4), threadInGroup = rem(lane, 4);
  Value batch = launch.getBlockIds().z;
  Value head = launch.getBlockIds().y;
  auto [queryHead, kvHead] = buildHeadsRead(b, loc, op, head);
  Value firstRow = mul(launch.getBlockIds().x, plan.blockRows);

  KeyBlockSchedule schedule = buildKeyBlockSchedule(
      b, loc, op, firstRow, plan.blockRows, plan.keyBlock, querySeqLen,
      keySeqLen);
  Value blockBegin = schedule.begin, blockEnd = schedule.end;

  // The warp's first row in the Q tile, and this thread's rows: fragment
  // rows g and g + 8 of each row tile.
  Value warpRow = mul(warp, plan.warpRows);
  // The rows as i32, which the epilogue reads back: the values live through
  // the loop then take a register each, not two.
  SmallVector<Value> rows32;
  // Each row tile's visible keys, for the mask (buildQueryRowKeys).
  SmallVector<QueryRowKeys> rowKeys;
  for (int64_t m = 0; m < plan.rowTiles; ++m) {
    Value row = add(add(add(firstRow, warpRow), m * kMmaM), group);
    rows32.append({toI32(row), toI32(add(row, kMmaM / 2))});
    rowKeys.push_back(
        buildQueryRowKeys(b, loc, op, row, querySeqLen, keySeqLen));
  }

  // Prologue: the Q tile and the first K block, in two groups.
  int64_t numThreads = plan.numWarps * kThreadsPerWarp;
  auto tokenType = nvgpu::DeviceAsyncTokenType::get(ctx);
  auto copyTile = [&](Value source, Value head, Value rowStart, Value seqLen,
                      int64_t rows, int64_t width, Value tile,
                      bool wholeRows) {
    SmallVector<Value> tokens = tc.buildTileCopy(
        {source, batch, head, rowStart, seqLen, rows, width, tile,
         std::nullopt, thread, numThreads, wholeRows});
    return nvgpu::DeviceAsyncCreateGroupOp::create(b, loc, tokenType, tokens)
        .getResult();
  };
  // K or V of kv-block `block`; `wholeRows` where the block is not the last.
  auto copyKeyBlock = [&](Value block, bool wholeRows) {
    copyTile(key, kvHead, mul(block, plan.keyBlock), keySeqLen, plan.keyBlock,
             headDim, sharedK, wholeRows);
  };
  auto copyValueBlock = [&](Value block, bool wholeRows) {
    copyTile(value, kvHead, mul(block, plan.keyBlock), keySeqLen, plan.keyBlock,
             valueHeadDim, sharedV, wholeRows);
  };
  Value queryGroup =
      copyTile(query, queryHead, firstRow, querySeqLen, plan.blockRows, headDim,
               sharedQ, /*wholeRows=*/false);
  // Waits until every copy this thread issued has landed (the token only
  // names a group; 0 groups may stay in flight), then makes every thread's
  // copies visible to the block.
  auto waitForCopies = [&] {
    nvgpu::DeviceAsyncWaitOp::create(b, loc, queryGroup,
                                     b.getI32IntegerAttr(0));
    gpu::BarrierOp::create(b, loc);
  };
  // K, then V, of the last block, which alone may need zero-fill.
  Value hasBlocks = less(blockBegin, blockEnd);
  Value lastBlock = sub(blockEnd, 1);
  {
    auto ifOp = scf::IfOp::create(b, loc, hasBlocks, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    copyKeyBlock(lastBlock, /*wholeRows=*/false);
    copyValueBlock(lastBlock, /*wholeRows=*/false);
  }

  // Q: the warp's fragments of the first heldQuerySteps k-steps in
  // registers for the whole loop (plan.heldQuerySteps), the rest read from the
  // shared tile at each k-step.
  WarpTensorCoreBuilder::LaneAddressing lanes = tc.buildLaneAddressing(lane);
  WarpTensorCoreBuilder::SharedOperand queryTile = {sharedQ, std::nullopt,
                                                     warpRow, headDim};
  SmallVector<Value> queryFragments;
  if (plan.heldQuerySteps > 0) {
    waitForCopies();
    for (int64_t m = 0; m < plan.rowTiles; ++m)
      llvm::append_range(queryFragments, tc.buildLoadRowFragments(
                                             {sharedQ, std::nullopt,
                                              add(warpRow, m * kMmaM), headDim},
                                             lanes, plan.heldQuerySteps));
  }

  OnlineSoftmax softmax(op.getScaleLog2(), /*subtractFirst=*/false,
                        plan.referenceTrail);
  Value zeroAcc = tc.buildZeroAccumulator();
  int64_t numScoreTiles = plan.keyBlock / kMmaN,
          numOutTiles = valueHeadDim / kMmaN;
  int64_t numRows = 2 * plan.rowTiles;

  // Loop state: the softmax reference (in exp2 units) and sum of each of
  // this thread's rows, then the output accumulators (row tile major).
  SmallVector<Value> inits(numRows, f32Const(negInf));
  inits.append(numRows, f32Const(0.0f));
  inits.append(plan.rowTiles * numOutTiles, zeroAcc);
  // Blocks last to first: step i visits block lastBlock - i.
  auto loop = scf::ForOp::create(b, loc, index(0), sub(blockEnd, blockBegin),
                                 index(1), inits);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value block = sub(lastBlock, loop.getInductionVar());
    ValueRange state = loop.getRegionIterArgs();
    SmallVector<Value> references(state.take_front(numRows));
    SmallVector<Value> sums(state.slice(numRows, numRows));
    SmallVector<Value> acc(state.drop_front(2 * numRows));

    // K of this block (and Q) has landed, and every warp is past the
    // previous block's O += P V: V can be overwritten while S is computed
    // (the last block's V came with the prologue).
    waitForCopies();
    {
      auto ifOp = scf::IfOp::create(b, loc, less(block, lastBlock),
                                    /*withElseRegion=*/false);
      OpBuilder::InsertionGuard ifGuard(b);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      copyValueBlock(block, /*wholeRows=*/true);
    }

    // S = Q Kᵀ on (warpRows x keyBlock) per warp.
    SmallVector<Value> scores(plan.rowTiles * numScoreTiles, zeroAcc);
    WarpTensorCoreBuilder::SharedOperand keyTile = {sharedK, std::nullopt,
                                                     index(0), headDim};
    tc.buildProductWithTransposed(queryTile, keyTile, lanes, scores,
                                  plan.rowTiles, queryFragments);

    // Mask the keys of a partly visible block; blocks inside every row's
    // range skip this.
    Value blockStart = mul(block, plan.keyBlock);
    Value fullyVisible = buildKeyBlockIsFullyVisible(
        b, loc, schedule, toI32(blockStart), plan.keyBlock);
    Value column = add(blockStart, mul(threadInGroup, 2));
    for (int64_t m = 0; m < plan.rowTiles; ++m) {
      MutableArrayRef<Value> tiles =
          MutableArrayRef<Value>(scores).slice(m * numScoreTiles,
                                               numScoreTiles);
      SmallVector<Value> masked =
          buildMaskedScores(b, loc, tiles, fullyVisible, rowKeys[m], column);
      llvm::copy(masked, tiles.begin());
    }

    // V of this block has landed, and every warp is past S = Q Kᵀ: K of
    // the next block can be copied while the softmax and O += P V run.
    waitForCopies();
    {
      auto ifOp = scf::IfOp::create(b, loc, less(blockBegin, block),
                                    /*withElseRegion=*/false);
      OpBuilder::InsertionGuard ifGuard(b);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      copyKeyBlock(sub(block, 1), /*wholeRows=*/true);
    }

    // The online softmax (OnlineSoftmax) with a reference trailing the row
    // max by T = plan.referenceTrail, as FlashAttention-4's: it moves only
    // where the scores exceed it by more than T, so P <= 2^T (exact in
    // f16/bf16, far from overflow in the f32 sums). Where no row of this
    // thread moved, the corrections are exactly 1, and the branch that
    // computes them and rescales O and l is skipped; after a row's first
    // blocks that is nearly every block.
    SmallVector<Value> probs, oldReferences, shifts, rowSums;
    Value anyMoved;
    for (int64_t m = 0; m < plan.rowTiles; ++m) {
      ArrayRef<Value> tiles =
          ArrayRef<Value>(scores).slice(m * numScoreTiles, numScoreTiles);
      for (int64_t r = 0; r < 2; ++r) {
        Value &reference = references[2 * m + r];
        Value rowMax = tc.buildQuadReduction(
            tc.buildRowReduction(tiles, r, RowReduction::Max),
            RowReduction::Max);
        Value newReference = softmax.buildReference(b, loc, reference, rowMax);
        // False where the row has seen no key yet (-inf on both sides).
        Value moved = arith::CmpFOp::create(
            b, loc, arith::CmpFPredicate::OGT, newReference, reference);
        anyMoved =
            anyMoved ? arith::OrIOp::create(b, loc, anyMoved, moved) : moved;
        shifts.push_back(softmax.buildShift(b, loc, newReference));
        oldReferences.push_back(reference);
        reference = newReference;
      }
      SmallVector<Value> tileProbs;
      for (Value tile : tiles) {
        SmallVector<Value> elements;
        for (int64_t i = 0; i < 4; ++i) {
          Value s = vector::ExtractOp::create(b, loc, tile,
                                              ArrayRef<int64_t>{i / 2, i % 2});
          elements.push_back(
              softmax.buildExponent(b, loc, s, shifts[2 * m + i / 2]));
        }
        tileProbs.push_back(vector::FromElementsOp::create(
            b, loc, tc.getAccumulatorType(), elements));
      }
      for (int64_t r = 0; r < 2; ++r)
        rowSums.push_back(
            tc.buildRowReduction(tileProbs, r, RowReduction::Sum));
      llvm::append_range(probs, tileProbs);
    }
    // P rounded to T now: half the registers of its f32 form while O is
    // rescaled.
    SmallVector<Value> probFragments = tc.buildAccumulatorsAsAFragments(probs);
    // l' = l * correction + rowsum(P) and O' = O * correction, or, where no
    // row of this thread moved, l' = l + rowsum(P) and O' = O.
    {
      SmallVector<Value> state(sums);
      llvm::append_range(state, acc);
      auto rescale = scf::IfOp::create(b, loc, TypeRange(ValueRange(state)),
                                       anyMoved, /*withElseRegion=*/true);
      OpBuilder::InsertionGuard ifGuard(b);
      b.setInsertionPointToStart(rescale.thenBlock());
      SmallVector<Value> rescaled, corrections;
      for (int64_t r = 0; r < numRows; ++r) {
        corrections.push_back(
            softmax.buildCorrection(b, loc, oldReferences[r], shifts[r]));
        rescaled.push_back(math::FmaOp::create(b, loc, sums[r],
                                               corrections[r], rowSums[r]));
      }
      for (auto [i, tile] : llvm::enumerate(acc)) {
        int64_t m = i / numOutTiles;
        rescaled.push_back(arith::MulFOp::create(
            b, loc, tile,
            tc.buildRowPair(corrections[2 * m], corrections[2 * m + 1])));
      }
      scf::YieldOp::create(b, loc, rescaled);
      b.setInsertionPointToStart(rescale.elseBlock());
      SmallVector<Value> kept;
      for (int64_t r = 0; r < numRows; ++r)
        kept.push_back(arith::AddFOp::create(b, loc, sums[r], rowSums[r]));
      llvm::append_range(kept, acc);
      scf::YieldOp::create(b, loc, kept);
      ValueRange results = rescale.getResults();
      sums.assign(results.begin(), results.begin() + numRows);
      acc.assign(results.begin() + numRows, results.end());
    }

    // O += P V: the C fragments of S tiles 2j and 2j + 1 are the A fragment
    // of P for keys [16 j, 16 j + 16).
    tc.buildProductFromFragments(
        probFragments, {sharedV, std::nullopt, index(0), valueHeadDim}, lanes,
        acc, plan.rowTiles);
    SmallVector<Value> yields = references;
    llvm::append_range(yields, sums);
    llvm::append_range(yields, acc);
    scf::YieldOp::create(b, loc, yields);
  }

  // Epilogue: out = O / l, with l summed over the quad; 0 where l = 0.
  Type outElementType = op.getOutputType().getElementType();
  for (int64_t r = 0; r < numRows; ++r) {
    Value row = arith::IndexCastOp::create(b, loc, b.getIndexType(), rows32[r]);
    Value reference = loop.getResult(r);
    Value sum =
        tc.buildQuadReduction(loop.getResult(numRows + r), RowReduction::Sum);
    Value seen = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, sum,
                                       f32Const(0.0f));
    Value inverse = arith::SelectOp::create(
        b, loc, seen, arith::DivFOp::create(b, loc, f32Const(1.0f), sum),
        f32Const(0.0f));
    auto store = scf::IfOp::create(b, loc, less(row, querySeqLen),
                                   /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(store.thenBlock()->getTerminator());
    int64_t m = r / 2;
    for (int64_t n = 0; n < numOutTiles; ++n) {
      Value tile = loop.getResult(2 * numRows + m * numOutTiles + n);
      Value pair = vector::ExtractOp::create(b, loc, tile, r % 2);
      pair = arith::MulFOp::create(
          b, loc, pair,
          vector::BroadcastOp::create(b, loc, pair.getType(), inverse));
      if (outElementType != f32)
        pair = arith::TruncFOp::create(
            b, loc, VectorType::get({2}, outElementType), pair);
      vector::StoreOp::create(
          b, loc, pair, out,
          ValueRange{batch, head, row,
                     add(mul(threadInGroup, 2), index(n * kMmaN))});
    }
    if (lse) {
      Value isLeader = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                             threadInGroup, index(0));
      auto leader = scf::IfOp::create(b, loc, isLeader, /*withElse=*/false);
      b.setInsertionPoint(leader.thenBlock()->getTerminator());
      Value value = buildLogSumExpFromLog2(
          b, loc, softmax.buildReferenceInExp2Units(b, loc, reference), sum);
      memref::StoreOp::create(b, loc, value, lse, ValueRange{batch, head, row});
    }
  }
}

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
                       FlashKernelBuilder(rewriter, loc, op, plan, launch,
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
