//===- SQAToLinalg.cpp - Reference lowering of sqa to linalg --------------===//
//
// Lowers sqa.attention and sqa.attention_grad to the textbook algorithms on
// whole tensors. They are the oracles that the fused lowerings are tested
// against, so they favour being obviously right over being fast: every step
// is its own linalg.generic.
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

/// The materialised scores of `op`: S = scale * Q Kᵀ, -inf where masked
/// (B x Ho x Sq x Skv, f32), shared by the forward and the backward.
static Value buildMaskedScores(PatternRewriter &rewriter, Location loc,
                               AttentionOpInterface op) {
  OpFoldResult querySeqLen =
      tensor::getMixedSize(rewriter, loc, op.getQuery(), 2);
  OpFoldResult keySeqLen = tensor::getMixedSize(rewriter, loc, op.getKey(), 2);
  Value scores = buildQueryKeyProduct(
      rewriter, loc, op, op.getQuery(), op.getKey(),
      buildFilledF32Tensor(
          rewriter, loc,
          {tensor::getMixedSize(rewriter, loc, op.getQuery(), 0),
           rewriter.getIndexAttr(op.getNumOutputHeads()), querySeqLen,
           keySeqLen},
          0.0f));
  return buildScaleAndMask(
      rewriter, loc, op, scores, op.getScaleOrDefault(),
      arith::ConstantIndexOp::create(rewriter, loc, 0),
      getValueOrCreateConstantIndexOp(rewriter, loc, querySeqLen),
      getValueOrCreateConstantIndexOp(rewriter, loc, keySeqLen));
}

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
  OpFoldResult numHeads = rewriter.getIndexAttr(op.getNumOutputHeads());
  auto f32Constant = [&](OpBuilder &b, float value) -> Value {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  };
  AffineExpr d0, d1, d2, d3;
  bindDims(rewriter.getContext(), d0, d1, d2, d3);
  SmallVector<AffineExpr> all = {d0, d1, d2, d3}, rows = {d0, d1, d2};

  Value scores = buildMaskedScores(rewriter, loc, op);

  Value rowMax = buildGeneric(
      rewriter, loc, scores,
      buildFilledF32Tensor(rewriter, loc, {batch, numHeads, querySeqLen},
                           negInf),
      4, {all, rows}, 1, [&](OpBuilder &b, Location l, ValueRange args) {
        linalg::YieldOp::create(
            b, l,
            arith::MaximumFOp::create(b, l, args[0], args[1]).getResult());
      });

  Value probs = buildProbabilities(rewriter, loc, scores, rowMax);

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

/// Builds the reference backward for `op` on whole tensors, materialising
/// the B x Ho x Sq x Skv scores (f32 throughout):
///
///   S  = scale * Q Kᵀ, -inf where masked
///   P  = exp(S - lse), 0 where S = -inf or lse = -inf (a row with no key)
///   Dsum = rowsum(dO ∘ O);  dP = dO Vᵀ;  dS = P ∘ (dP - Dsum)
///   dV[kvh(h)] += Pᵀ dO[h]
///   dQ[qh(h)]  += scale * dS[h] K[kvh(h)]
///   dK[kvh(h)] += scale * dS[h]ᵀ Q[qh(h)]
///
/// The head sums are reductions over the output head h whose results are
/// indexed by kvh(h) or qh(h) (the op's head map), so GQA groups and the
/// output heads that reverse SQA tiles over a query head add up in one
/// contraction each, in a fixed order.
static SmallVector<Value> buildReferenceAttentionGrad(PatternRewriter &rewriter,
                                                      AttentionGradOp op) {
  Location loc = op.getLoc();
  auto size = [&](Value tensor, int64_t dim) {
    return tensor::getMixedSize(rewriter, loc, tensor, dim);
  };
  OpFoldResult batch = size(op.getQuery(), 0);
  OpFoldResult querySeqLen = size(op.getQuery(), 2);
  OpFoldResult keySeqLen = size(op.getKey(), 2);
  OpFoldResult numHeads = rewriter.getIndexAttr(op.getNumOutputHeads());
  auto f32Constant = [&](OpBuilder &b, float value) -> Value {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  };
  AffineExpr d0, d1, d2, d3, d4;
  bindDims(rewriter.getContext(), d0, d1, d2, d3, d4);
  SmallVector<AffineExpr> all = {d0, d1, d2, d3}, rows = {d0, d1, d2};

  Value scores = buildMaskedScores(rewriter, loc, op);

  Value probs = buildProbabilities(rewriter, loc, scores, op.getLse());

  // Dsum[b, h, i] = sum_e dO[b, h, i, e] * O[b, h, i, e]; loops (b, h, i, e).
  Value rowDot = buildF32Contraction(
      rewriter, loc, op.getDout(), op.getOut(),
      buildFilledF32Tensor(rewriter, loc, {batch, numHeads, querySeqLen}, 0.0f),
      4, {all, all, rows}, 1);

  // dP[b, h, i, j] = sum_e dO[b, h, i, e] * V[b, kvh(h), j, e]; loops
  // (b, h, i, j, e).
  Value probGrad = buildF32Contraction(
      rewriter, loc, op.getDout(), op.getValue(),
      buildFilledF32Tensor(rewriter, loc,
                           {batch, numHeads, querySeqLen, keySeqLen}, 0.0f),
      5, {{d0, d1, d2, d4}, {d0, op.getKvHeadExpr(d1), d3, d4}, all}, 1);

  // dS = P ∘ (dP - Dsum).
  Value scoreGrad = buildGeneric(
      rewriter, loc, {probs, rowDot}, probGrad, 4, {all, rows, all}, 0,
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value centered = arith::SubFOp::create(b, l, args[2], args[1]);
        linalg::YieldOp::create(
            b, l, arith::MulFOp::create(b, l, args[0], centered).getResult());
      });

  auto zeros = [&](Value like) {
    return buildFilledF32Tensor(
        rewriter, loc,
        {size(like, 0), size(like, 1), size(like, 2), size(like, 3)}, 0.0f);
  };
  // Loops (b, j, e, h, i): the output head h and the query row i are
  // reductions; the result is indexed by the head that h reads.
  AffineExpr kvHead = op.getKvHeadExpr(d3), queryHead = op.getQueryHeadExpr(d3);
  Value valueGrad = buildF32Contraction(
      rewriter, loc, probs, op.getDout(), zeros(op.getValueGrad()), 5,
      {{d0, d3, d4, d1}, {d0, d3, d4, d2}, {d0, kvHead, d1, d2}}, 2);
  // Loops (b, j, d, h, i).
  Value keyGrad = buildF32Contraction(
      rewriter, loc, scoreGrad, op.getQuery(), zeros(op.getKeyGrad()), 5,
      {{d0, d3, d4, d1}, {d0, queryHead, d4, d2}, {d0, kvHead, d1, d2}}, 2);
  // Loops (b, i, d, h, j).
  Value queryGrad = buildF32Contraction(
      rewriter, loc, scoreGrad, op.getKey(), zeros(op.getQueryGrad()), 5,
      {{d0, d3, d1, d4}, {d0, kvHead, d4, d2}, {d0, queryHead, d1, d2}}, 2);

  // Scale (dQ, dK) and write each gradient in its element type.
  auto finish = [&](Value acc, Value dest, float factor) {
    Type elementType = cast<ShapedType>(dest.getType()).getElementType();
    return buildGeneric(rewriter, loc, acc, dest, 4, {all, all}, 0,
                        [&](OpBuilder &b, Location l, ValueRange args) {
                          Value v = args[0];
                          if (factor != 1.0f)
                            v = arith::MulFOp::create(b, l, v,
                                                      f32Constant(b, factor));
                          linalg::YieldOp::create(
                              b, l, buildTruncateFromF32(b, l, v, elementType));
                        });
  };
  float scale = op.getScaleOrDefault();
  return {finish(queryGrad, op.getQueryGrad(), scale),
          finish(keyGrad, op.getKeyGrad(), scale),
          finish(valueGrad, op.getValueGrad(), 1.0f)};
}

namespace {
/// Replaces a tensor-semantics `OpTy` by what `build` makes of it.
template <typename OpTy,
          SmallVector<Value> (*build)(PatternRewriter &, OpTy)>
struct ReferenceLoweringPattern : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureTensorSemantics())
      return rewriter.notifyMatchFailure(op, "expected tensor operands");
    rewriter.replaceOp(op, build(rewriter, op));
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
  patterns.add<
      ReferenceLoweringPattern<AttentionOp, buildReferenceAttention>,
      ReferenceLoweringPattern<AttentionGradOp, buildReferenceAttentionGrad>>(
      patterns.getContext());
}
