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
// tiles, swizzle, quad reductions) come from sqa/GPU/WarpTensorCore.h.
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
#define GEN_PASS_DEF_CHOOSESCHEDULEPASS
#include "sqa/Conversion/Passes.h.inc"
} // namespace sqa
} // namespace mlir

using namespace mlir;
using namespace mlir::sqa;

namespace {
/// Builds the body of one FlashAttention-2 kernel inside a gpu.launch. Index
/// arithmetic is plain arith on `index`; canonicalization folds the
/// constants.
class FlashKernelBuilder : KernelArithmetic {
public:
  FlashKernelBuilder(OpBuilder &b, Location loc, AttentionOp op,
                     const TensorCoreKernelOptions &options,
                     gpu::LaunchOp launch)
      : KernelArithmetic(b, loc), op(op), launch(launch),
        tc(b, loc, op.getQueryType().getElementType()),
        numWarps(options.numWarps), blockRows(kMmaM * options.numWarps),
        keyBlock(getTensorCoreKeyBlock(op, options)), headDim(op.getHeadDim()),
        valueHeadDim(op.getValueHeadDim()),
        elementType(op.getQueryType().getElementType()), f32(b.getF32Type()) {}

  void build();

private:
  AttentionOp op;
  gpu::LaunchOp launch;
  WarpTensorCoreBuilder tc;
  int64_t numWarps, blockRows, keyBlock, headDim, valueHeadDim;
  Type elementType, f32;
};
} // namespace

void FlashKernelBuilder::build() {
  MLIRContext *ctx = b.getContext();
  const float negInf = -std::numeric_limits<float>::infinity();
  Value query = op.getQuery(), key = op.getKey(), value = op.getValue();
  Value out = op.getOutput(), lse = op.getLse();
  Value sharedQ = launch.getWorkgroupAttributions()[0];
  Value sharedK = launch.getWorkgroupAttributions()[1];
  Value sharedV = launch.getWorkgroupAttributions()[2];

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
  Value firstRow = mul(launch.getBlockIds().x, blockRows);

  KeyBlockSchedule schedule = buildKeyBlockSchedule(
      b, loc, op, firstRow, blockRows, keyBlock, querySeqLen, keySeqLen);
  Value blockBegin = schedule.begin, blockEnd = schedule.end;

  // This thread's two rows (fragment rows g and g + 8 of its warp).
  Value rowA = add(add(firstRow, mul(warp, kMmaM)), group);
  Value rowB = add(rowA, kMmaM / 2);

  // Prologue: the Q tile and the first K/V stage.
  int64_t numThreads = numWarps * kThreadsPerWarp;
  auto copyTile = [&](Value source, Value head, Value rowStart, Value seqLen,
                      int64_t rows, int64_t width, Value tile,
                      std::optional<Value> stage) {
    return tc.buildTileCopy({source, batch, head, rowStart, seqLen, rows, width,
                             tile, stage, thread, numThreads});
  };
  SmallVector<Value> queryTokens =
      copyTile(query, queryHead, firstRow, querySeqLen, blockRows, headDim,
               sharedQ, std::nullopt);
  auto tokenType = nvgpu::DeviceAsyncTokenType::get(ctx);
  Value queryGroup =
      nvgpu::DeviceAsyncCreateGroupOp::create(b, loc, tokenType, queryTokens);
  auto copyKeyValueBlock = [&](Value block, Value stage) {
    Value start = mul(block, keyBlock);
    SmallVector<Value> tokens = copyTile(key, kvHead, start, keySeqLen,
                                         keyBlock, headDim, sharedK, stage);
    llvm::append_range(tokens,
                       copyTile(value, kvHead, start, keySeqLen, keyBlock,
                                valueHeadDim, sharedV, stage));
    return nvgpu::DeviceAsyncCreateGroupOp::create(b, loc, tokenType, tokens)
        .getResult();
  };
  Value hasBlocks = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                          blockBegin, blockEnd);
  {
    auto ifOp = scf::IfOp::create(b, loc, hasBlocks, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    copyKeyValueBlock(blockBegin, index(0));
  }
  nvgpu::DeviceAsyncWaitOp::create(b, loc, queryGroup, b.getI32IntegerAttr(0));
  gpu::BarrierOp::create(b, loc);

  // Q fragments, kept in registers for the whole loop.
  WarpTensorCoreBuilder::LaneAddressing lanes = tc.buildLaneAddressing(lane);
  SmallVector<Value> queryFragments = tc.buildLoadRowFragments(
      {sharedQ, std::nullopt, mul(warp, kMmaM), headDim}, lanes);

  float scaleLog2 = op.getScaleLog2();
  auto accType = VectorType::get({2, 2}, f32);
  Value zeroAcc = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(accType, b.getF32FloatAttr(0)));
  int64_t numScoreTiles = keyBlock / kMmaN, numOutTiles = valueHeadDim / kMmaN;

  SmallVector<Value> inits = {f32Const(negInf), f32Const(negInf),
                              f32Const(0.0f), f32Const(0.0f)};
  inits.append(numOutTiles, zeroAcc);
  auto loop = scf::ForOp::create(b, loc, blockBegin, blockEnd, index(1), inits);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value block = loop.getInductionVar();
    Value maxA = loop.getRegionIterArgs()[0],
          maxB = loop.getRegionIterArgs()[1];
    Value sumA = loop.getRegionIterArgs()[2],
          sumB = loop.getRegionIterArgs()[3];
    SmallVector<Value> acc(loop.getRegionIterArgs().drop_front(4));
    Value stage = rem(arith::SubIOp::create(b, loc, block, blockBegin), 2);

    // Prefetch the next block into the other stage, then wait for this one.
    Value next = add(block, 1);
    Value hasNext = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                          next, blockEnd);
    {
      auto ifOp = scf::IfOp::create(b, loc, hasNext, /*withElseRegion=*/true);
      OpBuilder::InsertionGuard ifGuard(b);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      Value group = copyKeyValueBlock(
          next, arith::SubIOp::create(b, loc, index(1), stage));
      // At most one group (the one just issued) may still be in flight.
      nvgpu::DeviceAsyncWaitOp::create(b, loc, group, b.getI32IntegerAttr(1));
      b.setInsertionPoint(ifOp.elseBlock()->getTerminator());
      nvgpu::DeviceAsyncWaitOp::create(b, loc, queryGroup,
                                       b.getI32IntegerAttr(0));
    }
    gpu::BarrierOp::create(b, loc);

    // S = Q Kᵀ on (16 x keyBlock) per warp.
    SmallVector<Value> scores(numScoreTiles, zeroAcc);
    tc.buildProductWithTransposed(queryFragments,
                                  {sharedK, stage, index(0), headDim}, lanes,
                                  scores);

    // Mask the keys of a partly visible block; blocks inside every row's
    // range skip this.
    // The rows' key ranges are recomputed in the mask rather than kept live
    // through the loop: registers are the limit at D = 128.
    Value blockStart = mul(block, keyBlock);
    scores = buildMaskedScores(
        b, loc, op, scores,
        buildKeyBlockIsFullyVisible(b, loc, schedule, blockStart, keyBlock),
        rowA, add(blockStart, mul(threadInGroup, 2)), /*rowsAreQueries=*/true,
        querySeqLen, keySeqLen);

    // Online softmax, scores in raw units: m' = max(m, rowmax(S)),
    // P = exp2(S * c - m' * c) with c = scale * log2(e).
    auto updateRow = [&](Value oldMax, int64_t row, Value &correction) {
      Value newMax = arith::MaxNumFOp::create(
          b, loc, oldMax,
          tc.buildQuadReduction(
              tc.buildRowReduction(scores, row, RowReduction::Max),
              RowReduction::Max));
      // A row that has seen no key yet keeps m' = -inf; subtracting 0
      // instead keeps exp2 away from -inf - -inf.
      Value isEmpty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                            newMax, f32Const(negInf));
      Value shift = arith::SelectOp::create(
          b, loc, isEmpty, f32Const(0.0f),
          arith::MulFOp::create(b, loc, newMax, f32Const(scaleLog2)));
      correction = math::Exp2Op::create(
          b, loc,
          arith::SubFOp::create(
              b, loc,
              arith::MulFOp::create(b, loc, oldMax, f32Const(scaleLog2)),
              shift));
      return std::make_pair(newMax, shift);
    };
    Value correctionA, correctionB;
    auto [newMaxA, shiftA] = updateRow(maxA, 0, correctionA);
    auto [newMaxB, shiftB] = updateRow(maxB, 1, correctionB);
    Value shifts[2] = {shiftA, shiftB};
    SmallVector<Value> probs;
    for (Value tile : scores) {
      SmallVector<Value> elements;
      for (int64_t i = 0; i < 4; ++i) {
        Value s = vector::ExtractOp::create(b, loc, tile,
                                            ArrayRef<int64_t>{i / 2, i % 2});
        Value negShift = arith::NegFOp::create(b, loc, shifts[i / 2]);
        elements.push_back(math::Exp2Op::create(
            b, loc,
            math::FmaOp::create(b, loc, s, f32Const(scaleLog2), negShift)));
      }
      probs.push_back(
          vector::FromElementsOp::create(b, loc, accType, elements));
    }
    Value newSumA =
        math::FmaOp::create(b, loc, sumA, correctionA,
                            tc.buildRowReduction(probs, 0, RowReduction::Sum));
    Value newSumB =
        math::FmaOp::create(b, loc, sumB, correctionB,
                            tc.buildRowReduction(probs, 1, RowReduction::Sum));
    Value correctionVec = tc.buildRowPair(correctionA, correctionB);
    for (Value &tile : acc)
      tile = arith::MulFOp::create(b, loc, tile, correctionVec);

    // O += P V: the C fragments of S tiles 2j and 2j + 1 are the A fragment
    // of P for keys [16 j, 16 j + 16).
    tc.buildProductFromAccumulators(
        probs, {sharedV, stage, index(0), valueHeadDim}, lanes, acc);
    // The next iteration's prefetch overwrites the stage read here.
    gpu::BarrierOp::create(b, loc);
    SmallVector<Value> yields = {newMaxA, newMaxB, newSumA, newSumB};
    yields.append(acc);
    scf::YieldOp::create(b, loc, yields);
  }

  // Epilogue: out = O / l, with l summed over the quad; 0 where l = 0.
  Value rows[2] = {rowA, rowB};
  Value maxes[2] = {loop.getResult(0), loop.getResult(1)};
  Value sums[2] = {tc.buildQuadReduction(loop.getResult(2), RowReduction::Sum),
                   tc.buildQuadReduction(loop.getResult(3), RowReduction::Sum)};
  Type outElementType = op.getOutputType().getElementType();
  for (int64_t r = 0; r < 2; ++r) {
    Value seen = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                       sums[r], f32Const(0.0f));
    Value inverse = arith::SelectOp::create(
        b, loc, seen, arith::DivFOp::create(b, loc, f32Const(1.0f), sums[r]),
        f32Const(0.0f));
    Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                          rows[r], querySeqLen);
    auto store = scf::IfOp::create(b, loc, inRange, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(store.thenBlock()->getTerminator());
    for (int64_t n = 0; n < numOutTiles; ++n) {
      Value tile = loop.getResult(4 + n);
      Value pair = vector::ExtractOp::create(b, loc, tile, r);
      pair = arith::MulFOp::create(
          b, loc, pair,
          vector::BroadcastOp::create(b, loc, pair.getType(), inverse));
      if (outElementType != f32)
        pair = arith::TruncFOp::create(
            b, loc, VectorType::get({2}, outElementType), pair);
      vector::StoreOp::create(
          b, loc, pair, out,
          ValueRange{batch, head, rows[r],
                     add(mul(threadInGroup, 2), index(n * kMmaN))});
    }
    if (lse) {
      Value isLeader = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                             threadInGroup, index(0));
      auto leader = scf::IfOp::create(b, loc, isLeader, /*withElse=*/false);
      b.setInsertionPoint(leader.thenBlock()->getTerminator());
      Value rowMax =
          arith::MulFOp::create(b, loc, maxes[r], f32Const(scaleLog2));
      Value value = buildLogSumExpFromLog2(b, loc, rowMax, sums[r]);
      memref::StoreOp::create(b, loc, value, lse,
                              ValueRange{batch, head, rows[r]});
    }
  }
}

/// Replaces `op` by a gpu.launch of the tensor-core kernel.
static void lowerToTensorCoreKernel(RewriterBase &rewriter, AttentionOp op,
                                    const TensorCoreKernelOptions &passOptions) {
  TensorCoreKernelOptions options = getScheduledKernelOptions(op, passOptions);
  Location loc = op.getLoc();
  int64_t blockRows = kMmaM * options.numWarps;
  int64_t keyBlock = getTensorCoreKeyBlock(op, options);
  // Grid (q-blocks, output heads, batch), as FlashAttention-2.
  createKernelLaunch(rewriter, op, op.getQuery(), blockRows,
                     op.getNumOutputHeads(), options.numWarps,
                     {{{blockRows, op.getHeadDim()}},
                      {{2, keyBlock, op.getHeadDim()}},
                      {{2, keyBlock, op.getValueHeadDim()}}},
                     [&](gpu::LaunchOp launch) {
                       FlashKernelBuilder(rewriter, loc, op, options, launch)
                           .build();
                     });
  rewriter.eraseOp(op);
}

namespace {
struct ConvertSQAToNVGPUPass
    : sqa::impl::ConvertSQAToNVGPUPassBase<ConvertSQAToNVGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    FailureOr<TensorCoreKernelOptions> parsed =
        getPassKernelOptions(getOperation(), getArgument(), numWarps, keyBlock);
    if (failed(parsed))
      return signalPassFailure();
    TensorCoreKernelOptions options = *parsed;
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

namespace {
struct ChooseSchedulePass
    : sqa::impl::ChooseSchedulePassBase<ChooseSchedulePass> {
  using Base::Base;

  void runOnOperation() override {
    // Options a schedule cannot hold are errors here, before any op gets
    // one (the attribute's own rule, S1).
    FailureOr<TensorCoreKernelOptions> options =
        getPassKernelOptions(getOperation(), getArgument(), numWarps, keyBlock);
    if (failed(options))
      return signalPassFailure();
    StringRef name = SQADialect::getScheduleAttrName();
    getOperation()->walk([&](Operation *op) {
      if (isa<AttentionOp, AttentionGradOp>(op) && !op->hasAttr(name))
        op->setAttr(name, chooseSchedule(op, *options));
    });
  }
};
} // namespace

void mlir::sqa::populateSQAToNVGPUConversionPatterns(
    RewritePatternSet &patterns, const TensorCoreKernelOptions &options) {
  patterns.add<TensorCoreKernelPattern<AttentionOp, lowerToTensorCoreKernel>>(
      patterns.getContext(), options);
  populateAttentionGradToNVGPUPatterns(patterns, options);
}
