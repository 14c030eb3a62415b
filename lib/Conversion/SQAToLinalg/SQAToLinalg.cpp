//===- SQAToLinalg.cpp - Reference lowering of sqa to linalg --------------===//
//
// Lowers sqa.attention to the textbook algorithm on whole tensors. It is the
// oracle that the fused lowerings are tested against, so it favours being
// obviously right over being fast: every step is its own linalg.generic.
//
//===----------------------------------------------------------------------===//

#include "sqa/Conversion/SQAToLinalg/SQAToLinalg.h"

#include "sqa/Dialect/SQA/IR/SQAOps.h"
#include "sqa/Dialect/SQA/Utils/AttentionUtils.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

namespace mlir {
namespace sqa {
#define GEN_PASS_DEF_CONVERTSQATOLINALGPASS
#include "sqa/Conversion/Passes.h.inc"
} // namespace sqa
} // namespace mlir

using namespace mlir;
using namespace mlir::sqa;

/// Builds the reference algorithm for `op`:
///
///   S = scale * Q Kᵀ, -inf where masked      (B x Ho x Sq x Skv, f32)
///   M = rowmax(S);  P = exp(S - M);  L = rowsum(P)
///   out = P V / L (0 where L = 0);  lse = M + log(L) (-inf where L = 0)
static SmallVector<Value> buildReferenceAttention(PatternRewriter &rewriter,
                                                  AttentionOp op) {
  Location loc = op.getLoc();
  const float negInf = -std::numeric_limits<float>::infinity();
  OpFoldResult batch = tensor::getMixedSize(rewriter, loc, op.getQuery(), 0);
  OpFoldResult querySeqLen =
      tensor::getMixedSize(rewriter, loc, op.getQuery(), 2);
  OpFoldResult keySeqLen = tensor::getMixedSize(rewriter, loc, op.getKey(), 2);
  OpFoldResult numHeads = rewriter.getIndexAttr(op.getNumOutputHeads());
  auto f32Constant = [&](OpBuilder &b, float value) -> Value {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  };
  AffineExpr d0, d1, d2, d3;
  bindDims(rewriter.getContext(), d0, d1, d2, d3);
  SmallVector<AffineExpr> all = {d0, d1, d2, d3}, rows = {d0, d1, d2};

  Value scores = buildQueryKeyProduct(
      rewriter, loc, op, op.getQuery(), op.getKey(),
      buildFilledF32Tensor(rewriter, loc,
                           {batch, numHeads, querySeqLen, keySeqLen}, 0.0f));
  scores = buildScaleAndMask(
      rewriter, loc, op, scores, op.getScaleOrDefault(),
      arith::ConstantIndexOp::create(rewriter, loc, 0),
      getValueOrCreateConstantIndexOp(rewriter, loc, querySeqLen),
      getValueOrCreateConstantIndexOp(rewriter, loc, keySeqLen));

  Value rowMax = buildGeneric(
      rewriter, loc, scores,
      buildFilledF32Tensor(rewriter, loc, {batch, numHeads, querySeqLen},
                           negInf),
      4, {all, rows}, 1, [&](OpBuilder &b, Location l, ValueRange args) {
        linalg::YieldOp::create(
            b, l,
            arith::MaximumFOp::create(b, l, args[0], args[1]).getResult());
      });

  // P = exp(S - M), and 0 for masked keys (also when the whole row is
  // masked, where S - M would be NaN).
  Value probs = buildGeneric(
      rewriter, loc, rowMax, scores, 4, {rows, all}, 0,
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value masked = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ,
                                             args[1], f32Constant(b, negInf));
        Value exp = math::ExpOp::create(
            b, l, arith::SubFOp::create(b, l, args[1], args[0]));
        linalg::YieldOp::create(
            b, l,
            arith::SelectOp::create(b, l, masked, f32Constant(b, 0.0f), exp)
                .getResult());
      });

  Value rowSum = buildGeneric(
      rewriter, loc, probs,
      buildFilledF32Tensor(rewriter, loc, {batch, numHeads, querySeqLen}, 0.0f),
      4, {all, rows}, 1, [&](OpBuilder &b, Location l, ValueRange args) {
        linalg::YieldOp::create(
            b, l, arith::AddFOp::create(b, l, args[0], args[1]).getResult());
      });

  Value unnormalized = buildProbValueProduct(
      rewriter, loc, op, probs, op.getValue(),
      buildFilledF32Tensor(rewriter, loc,
                           {batch, numHeads, querySeqLen,
                            rewriter.getIndexAttr(op.getValueHeadDim())},
                           0.0f));

  // out = O / L, or 0 where the row saw no key.
  Value out = buildNormalizedOutput(rewriter, loc, op, unnormalized, rowSum);
  SmallVector<Value> results = {out};
  if (!op.getLse())
    return results;

  // lse = M + log(L), or -inf where the row saw no key.
  AffineExpr e0, e1, e2;
  bindDims(rewriter.getContext(), e0, e1, e2);
  SmallVector<AffineExpr> lseExprs = {e0, e1, e2};
  results.push_back(buildGeneric(
      rewriter, loc, {rowMax, rowSum}, op.getLse(), 3,
      {lseExprs, lseExprs, lseExprs}, 0,
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value seen = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT,
                                           args[1], f32Constant(b, 0.0f));
        Value lse = arith::AddFOp::create(b, l, args[0],
                                          math::LogOp::create(b, l, args[1]));
        linalg::YieldOp::create(
            b, l,
            arith::SelectOp::create(b, l, seen, lse, f32Constant(b, negInf))
                .getResult());
      }));
  return results;
}

namespace {
struct AttentionToLinalgPattern : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics())
      return rewriter.notifyMatchFailure(op, "expected tensor operands");
    rewriter.replaceOp(op, buildReferenceAttention(rewriter, op));
    return success();
  }
};

struct ConvertSQAToLinalgPass
    : sqa::impl::ConvertSQAToLinalgPassBase<ConvertSQAToLinalgPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateSQAToLinalgConversionPatterns(patterns);
    ConversionTarget target(getContext());
    target.addIllegalDialect<SQADialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace

void mlir::sqa::populateSQAToLinalgConversionPatterns(
    RewritePatternSet &patterns) {
  patterns.add<AttentionToLinalgPattern>(patterns.getContext());
}
