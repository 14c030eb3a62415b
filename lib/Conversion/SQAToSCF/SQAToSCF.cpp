//===- SQAToSCF.cpp - Row-wise online-softmax lowering of sqa -------------===//
//
// Lowers sqa.attention to one parallel iteration per query row that streams
// over the row's visible keys with an online softmax (Milakov & Gimelshein,
// "Online normalizer calculation for softmax"; FlashAttention's inner loop
// with a query block of one row and a key block of one key).
//
//===----------------------------------------------------------------------===//

#include "sqa/Conversion/SQAToSCF/SQAToSCF.h"

#include "sqa/GPU/KernelSchedule.h"
#include "sqa/Dialect/SQA/IR/SQAOps.h"
#include "sqa/Dialect/SQA/Utils/AttentionUtils.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>
#include <limits>

namespace mlir {
namespace sqa {
#define GEN_PASS_DEF_CONVERTSQATOSCFPASS
#include "sqa/Conversion/Passes.h.inc"
} // namespace sqa
} // namespace mlir

using namespace mlir;
using namespace mlir::sqa;

/// Reads the head-dim row `source[batch, head, row, :]` as an f32 vector.
static Value buildRowRead(OpBuilder &b, Location loc, Value source, Value batch,
                          Value head, Value row) {
  auto sourceType = cast<RankedTensorType>(source.getType());
  auto vectorType =
      VectorType::get({sourceType.getDimSize(3)}, sourceType.getElementType());
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value read = vector::TransferReadOp::create(
      b, loc, vectorType, source, ValueRange{batch, head, row, zero},
      /*padding=*/std::nullopt, ArrayRef<bool>{true});
  return buildExtendToF32(b, loc, read);
}

namespace {
struct AttentionToSCFPattern : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override;
};
} // namespace

LogicalResult
AttentionToSCFPattern::matchAndRewrite(AttentionOp op,
                                       PatternRewriter &rewriter) const {
  if (!op.hasPureTensorSemantics())
    return rewriter.notifyMatchFailure(op, "expected tensor operands");

  Location loc = op.getLoc();
  Type f32 = rewriter.getF32Type();
  int64_t valueHeadDim = op.getValueHeadDim();
  auto accType = VectorType::get({valueHeadDim}, f32);
  auto f32Constant = [&](OpBuilder &b, float value) -> Value {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  };
  const float negInf = -std::numeric_limits<float>::infinity();

  auto sizeOf = [&](Value tensor, int64_t dim) {
    return getValueOrCreateConstantIndexOp(
        rewriter, loc, tensor::getMixedSize(rewriter, loc, tensor, dim));
  };
  Value batch = sizeOf(op.getQuery(), 0);
  Value querySeqLen = sizeOf(op.getQuery(), 2);
  Value keySeqLen = sizeOf(op.getKey(), 2);
  Value numOutputHeads =
      arith::ConstantIndexOp::create(rewriter, loc, op.getNumOutputHeads());

  // Rows first, batch last: the GPU mapping gives the first dimension to
  // threads, and the grid becomes (row block, head, batch) as in
  // FlashAttention-2.
  auto forallOp = scf::ForallOp::create(
      rewriter, loc, ArrayRef<OpFoldResult>{querySeqLen, numOutputHeads, batch},
      op.getOutputs(), /*mapping=*/std::nullopt);

  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(forallOp.getTerminator());
  Value i = forallOp.getInductionVar(0);
  Value h = forallOp.getInductionVar(1);
  Value b = forallOp.getInductionVar(2);
  auto [queryHead, kvHead] = buildHeadsRead(rewriter, loc, op, h);

  // Scores and references stay raw (the query is not rounded once more by a
  // pre-scaling); each exponent is (x - shift) * c with c = scale * log2(e),
  // the exact subtraction first, so nearly tied large scores lose nothing,
  // and exp2 (one instruction on GPUs, ex2.approx) needs no ln 2.
  OnlineSoftmax softmax(op.getScaleLog2(), /*subtractFirst=*/true);
  Value query = buildRowRead(rewriter, loc, op.getQuery(), b, queryHead, i);

  KeyRange keys =
      buildVisibleKeyRange(rewriter, loc, op, i, querySeqLen, keySeqLen);
  Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
  Value zeroAcc = arith::ConstantOp::create(
      rewriter, loc,
      DenseElementsAttr::get(accType, rewriter.getF32FloatAttr(0)));
  auto keyLoop = scf::ForOp::create(
      rewriter, loc, keys.begin, keys.end, one,
      ValueRange{f32Constant(rewriter, negInf), f32Constant(rewriter, 0.0f),
                 zeroAcc},
      [&](OpBuilder &nb, Location l, Value j, ValueRange carried) {
        Value runningMax = carried[0], runningSum = carried[1],
              acc = carried[2];
        Value key = buildRowRead(nb, l, op.getKey(), b, kvHead, j);
        Value score = vector::ReductionOp::create(
            nb, l, vector::CombiningKind::ADD,
            arith::MulFOp::create(nb, l, query, key));
        // The online softmax (OnlineSoftmax), one key at a time: what was
        // accumulated under the old max is rescaled by the correction.
        Value newMax = softmax.buildReference(nb, l, runningMax, score);
        Value shift = softmax.buildShift(nb, l, newMax);
        Value correction = softmax.buildCorrection(nb, l, runningMax, shift);
        Value prob = softmax.buildExponent(nb, l, score, shift);
        Value newSum = math::FmaOp::create(nb, l, runningSum, correction, prob);
        Value value = buildRowRead(nb, l, op.getValue(), b, kvHead, j);
        Value scaledAcc = arith::MulFOp::create(
            nb, l, acc,
            vector::BroadcastOp::create(nb, l, accType, correction));
        Value newAcc = vector::FMAOp::create(
            nb, l, vector::BroadcastOp::create(nb, l, accType, prob), value,
            scaledAcc);
        scf::YieldOp::create(nb, l, ValueRange{newMax, newSum, newAcc});
      });
  Value rowMax = keyLoop.getResult(0), rowSum = keyLoop.getResult(1),
        acc = keyLoop.getResult(2);

  // out = acc / l; a row that saw no key (l = 0) gives zeros.
  Value outRow = arith::MulFOp::create(
      rewriter, loc, acc,
      vector::BroadcastOp::create(rewriter, loc, accType,
                                  buildInverseRowSum(rewriter, loc, rowSum)));
  Type outElementType = op.getOutputType().getElementType();
  outRow = buildTruncateFromF32(rewriter, loc, outRow, outElementType);

  // Write the row into a 1 x 1 x 1 x Dv slice of the shared output.
  Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
  auto outSliceType =
      RankedTensorType::get({1, 1, 1, valueHeadDim}, outElementType);
  Value outArg = forallOp.getRegionIterArgs()[0];
  SmallVector<OpFoldResult> outOffsets = {b, h, i, rewriter.getIndexAttr(0)};
  SmallVector<OpFoldResult> outSizes = {
      rewriter.getIndexAttr(1), rewriter.getIndexAttr(1),
      rewriter.getIndexAttr(1), rewriter.getIndexAttr(valueHeadDim)};
  SmallVector<OpFoldResult> unitStrides(4, rewriter.getIndexAttr(1));
  Value outSlice = tensor::ExtractSliceOp::create(
      rewriter, loc, outSliceType, outArg, outOffsets, outSizes, unitStrides);
  outSlice = vector::TransferWriteOp::create(rewriter, loc, outRow, outSlice,
                                             ValueRange{zero, zero, zero, zero},
                                             ArrayRef<bool>{true})
                 .getResult();

  Value lseSlice;
  SmallVector<OpFoldResult> lseOffsets = {b, h, i};
  SmallVector<OpFoldResult> lseSizes(3, rewriter.getIndexAttr(1));
  SmallVector<OpFoldResult> lseStrides = lseSizes;
  if (Value lseArg = op.getLse() ? forallOp.getRegionIterArgs()[1] : Value()) {
    Value lse = buildLogSumExpFromLog2(
        rewriter, loc, softmax.buildReferenceInExp2Units(rewriter, loc, rowMax),
        rowSum);
    lseSlice = tensor::ExtractSliceOp::create(
        rewriter, loc, RankedTensorType::get({1, 1, 1}, f32), lseArg,
        lseOffsets, lseSizes, lseStrides);
    lseSlice = tensor::InsertOp::create(rewriter, loc, lse, lseSlice,
                                        ValueRange{zero, zero, zero});
  }

  rewriter.setInsertionPointToStart(forallOp.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(rewriter, loc, outSlice, outArg,
                                        outOffsets, outSizes, unitStrides);
  if (lseSlice)
    tensor::ParallelInsertSliceOp::create(rewriter, loc, lseSlice,
                                          forallOp.getRegionIterArgs()[1],
                                          lseOffsets, lseSizes, lseStrides);

  rewriter.replaceOp(op, forallOp.getResults());
  return success();
}

namespace {
struct ConvertSQAToSCFPass
    : sqa::impl::ConvertSQAToSCFPassBase<ConvertSQAToSCFPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateSQAToSCFConversionPatterns(patterns);
    ConversionTarget target(getContext());
    target.addIllegalDialect<SQADialect>();
    // The ops' schedules (or the default one) decide what the tensor-core
    // kernels take.
    TensorCoreKernelOptions tensorCore;
    if (this->tensorCore) {
      target.addDynamicallyLegalOp<AttentionOp>([=](AttentionOp op) {
        return getTensorCoreIncompatibility(op, tensorCore).empty();
      });
    }
    // The backward has no row-wise kernel: it is left to the tensor-core
    // kernels, or refused here with the reason.
    WalkResult grads = getOperation()->walk([&](AttentionGradOp op) {
      std::string reason =
          this->tensorCore
              ? getTensorCoreIncompatibility(op, tensorCore)
              : std::string("the row-wise kernels have no backward");
      if (reason.empty())
        return WalkResult::advance();
      op.emitOpError("has no GPU kernel: ")
          << reason << " (the backward runs on the tensor-core kernels)";
      return WalkResult::interrupt();
    });
    if (grads.wasInterrupted())
      return signalPassFailure();
    // The row-wise kernel is built on tensors: a bufferized op is left to the
    // tensor-core kernel, or refused here with the reason.
    WalkResult buffers = getOperation()->walk([&](AttentionOp op) {
      if (op.hasPureTensorSemantics())
        return WalkResult::advance();
      std::string reason = this->tensorCore
                               ? getTensorCoreIncompatibility(op, tensorCore)
                               : std::string("the tensor-core kernel is off "
                                             "(tensor-core=false)");
      if (reason.empty())
        return WalkResult::advance();
      op.emitOpError("on memrefs has no GPU kernel: the row-wise kernel "
                     "takes tensors (it runs before bufferization); ")
          << reason;
      return WalkResult::interrupt();
    });
    if (buffers.wasInterrupted())
      return signalPassFailure();
    // Head dims the row-wise kernel is for: above them, its per-thread
    // registers spill without bound (issue 33 reports ptxas at 220 s and
    // 8.3 GB at D = 4096) rather than anything useful.
    WalkResult wide = getOperation()->walk([&](AttentionOp op) {
      if (maxHeadDim <= 0 || target.isLegal(op) ||
          (op.getHeadDim() <= maxHeadDim && op.getValueHeadDim() <= maxHeadDim))
        return WalkResult::advance();
      op.emitOpError("has no GPU kernel: the row-wise kernel supports head "
                     "dims up to ")
          << static_cast<int64_t>(maxHeadDim) << ", but D is " << op.getHeadDim() << " and Dv "
          << op.getValueHeadDim()
          << (this->tensorCore
                  ? " (" + getTensorCoreIncompatibility(op, tensorCore) + ")"
                  : std::string());
      return WalkResult::interrupt();
    });
    if (wide.wasInterrupted())
      return signalPassFailure();
    target.addLegalOp<AttentionGradOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace

void mlir::sqa::populateSQAToSCFConversionPatterns(
    RewritePatternSet &patterns) {
  patterns.add<AttentionToSCFPattern>(patterns.getContext());
}
