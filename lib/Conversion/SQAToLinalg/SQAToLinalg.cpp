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

namespace {

/// Builds the linalg.generic ops of the reference algorithm for one op.
class ReferenceAttentionBuilder {
public:
  ReferenceAttentionBuilder(PatternRewriter &rewriter, AttentionOp op)
      : rewriter(rewriter), op(op), loc(op.getLoc()),
        f32(rewriter.getF32Type()) {}

  SmallVector<Value> build();

private:
  using BodyFn = function_ref<void(OpBuilder &, Location, ValueRange)>;

  /// A B x Ho x Sq [x `trailing`] f32 tensor filled with `fillValue`.
  Value buildFilledTensor(ArrayRef<OpFoldResult> trailing, float fillValue);
  Value buildGeneric(ValueRange inputs, Value init, unsigned numDims,
                     ArrayRef<SmallVector<AffineExpr>> operandExprs,
                     unsigned numReductions, BodyFn body);
  Value buildF32Constant(OpBuilder &b, float value) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  }

  PatternRewriter &rewriter;
  AttentionOp op;
  Location loc;
  Type f32;
  OpFoldResult batch, querySeqLen, keySeqLen;
};

} // namespace

Value ReferenceAttentionBuilder::buildFilledTensor(
    ArrayRef<OpFoldResult> trailing, float fillValue) {
  SmallVector<OpFoldResult> sizes = {
      batch, rewriter.getIndexAttr(op.getNumOutputHeads()), querySeqLen};
  llvm::append_range(sizes, trailing);
  Value empty = tensor::EmptyOp::create(rewriter, loc, sizes, f32);
  return linalg::FillOp::create(rewriter, loc,
                                buildF32Constant(rewriter, fillValue), empty)
      .getResult(0);
}

Value ReferenceAttentionBuilder::buildGeneric(
    ValueRange inputs, Value init, unsigned numDims,
    ArrayRef<SmallVector<AffineExpr>> operandExprs, unsigned numReductions,
    BodyFn body) {
  SmallVector<AffineMap> maps;
  for (ArrayRef<AffineExpr> exprs : operandExprs)
    maps.push_back(AffineMap::get(numDims, 0, exprs, rewriter.getContext()));
  SmallVector<utils::IteratorType> iterators(numDims - numReductions,
                                             utils::IteratorType::parallel);
  iterators.append(numReductions, utils::IteratorType::reduction);
  return linalg::GenericOp::create(rewriter, loc, init.getType(), inputs,
                                   init, maps, iterators, body)
      .getResult(0);
}

SmallVector<Value> ReferenceAttentionBuilder::build() {
  MLIRContext *ctx = rewriter.getContext();
  batch = tensor::getMixedSize(rewriter, loc, op.getQuery(), 0);
  querySeqLen = tensor::getMixedSize(rewriter, loc, op.getQuery(), 2);
  keySeqLen = tensor::getMixedSize(rewriter, loc, op.getKey(), 2);
  const float negInf = -std::numeric_limits<float>::infinity();

  AffineExpr d0, d1, d2, d3, d4;
  bindDims(ctx, d0, d1, d2, d3, d4);
  // Loop dims are named (b, h, i, j, d): batch, output head, query row, key,
  // head dim. The head mapping lives in the indexing maps.
  AffineExpr qh = op.getQueryHeadExpr(d1), kvh = op.getKvHeadExpr(d1);

  // S[b, h, i, j] = sum_d Q[b, qh(h), i, d] * K[b, kvh(h), j, d].
  Value scores = buildGeneric(
      {op.getQuery(), op.getKey()}, buildFilledTensor({keySeqLen}, 0.0f), 5,
      {{d0, qh, d2, d4}, {d0, kvh, d3, d4}, {d0, d1, d2, d3}}, 1,
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value product = arith::MulFOp::create(b, l, buildExtendToF32(b, l, args[0]),
                                              buildExtendToF32(b, l, args[1]));
        linalg::YieldOp::create(b, l,
                                arith::AddFOp::create(b, l, args[2], product)
                                    .getResult());
      });

  // S = scale * S where the key is visible, -inf where it is masked.
  Value querySeqLenValue =
      getValueOrCreateConstantIndexOp(rewriter, loc, querySeqLen);
  Value keySeqLenValue =
      getValueOrCreateConstantIndexOp(rewriter, loc, keySeqLen);
  float scale = op.getScaleOrDefault();
  scores = buildGeneric(
      {}, scores, 4, {{d0, d1, d2, d3}}, 0,
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value row = linalg::IndexOp::create(b, l, 2);
        Value key = linalg::IndexOp::create(b, l, 3);
        KeyRange range = buildVisibleKeyRange(b, l, op, row, querySeqLenValue,
                                              keySeqLenValue);
        Value afterBegin = arith::CmpIOp::create(
            b, l, arith::CmpIPredicate::sge, key, range.begin);
        Value beforeEnd = arith::CmpIOp::create(
            b, l, arith::CmpIPredicate::slt, key, range.end);
        Value visible = arith::AndIOp::create(b, l, afterBegin, beforeEnd);
        Value scaled =
            arith::MulFOp::create(b, l, args[0], buildF32Constant(b, scale));
        linalg::YieldOp::create(
            b, l,
            arith::SelectOp::create(b, l, visible, scaled,
                                    buildF32Constant(b, negInf))
                .getResult());
      });

  // M[b, h, i] = max_j S[b, h, i, j].
  Value rowMax = buildGeneric(
      scores, buildFilledTensor({}, negInf), 4,
      {{d0, d1, d2, d3}, {d0, d1, d2}}, 1,
      [&](OpBuilder &b, Location l, ValueRange args) {
        linalg::YieldOp::create(
            b, l, arith::MaximumFOp::create(b, l, args[0], args[1]).getResult());
      });

  // P = exp(S - M), and 0 for masked keys (also when the whole row is
  // masked, where S - M would be NaN).
  Value probs = buildGeneric(
      rowMax, scores, 4, {{d0, d1, d2}, {d0, d1, d2, d3}}, 0,
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value masked = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ,
                                             args[1], buildF32Constant(b, negInf));
        Value shifted = arith::SubFOp::create(b, l, args[1], args[0]);
        Value exp = math::ExpOp::create(b, l, shifted);
        linalg::YieldOp::create(
            b, l,
            arith::SelectOp::create(b, l, masked, buildF32Constant(b, 0.0f), exp)
                .getResult());
      });

  // L[b, h, i] = sum_j P[b, h, i, j].
  Value rowSum = buildGeneric(
      probs, buildFilledTensor({}, 0.0f), 4, {{d0, d1, d2, d3}, {d0, d1, d2}},
      1, [&](OpBuilder &b, Location l, ValueRange args) {
        linalg::YieldOp::create(
            b, l, arith::AddFOp::create(b, l, args[0], args[1]).getResult());
      });

  // O[b, h, i, e] = sum_j P[b, h, i, j] * V[b, kvh(h), j, e]; dims (b, h, i,
  // e, j).
  Value unnormalized = buildGeneric(
      {probs, op.getValue()},
      buildFilledTensor({rewriter.getIndexAttr(op.getValueHeadDim())}, 0.0f),
      5, {{d0, d1, d2, d4}, {d0, kvh, d4, d3}, {d0, d1, d2, d3}}, 1,
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value product = arith::MulFOp::create(b, l, args[0],
                                              buildExtendToF32(b, l, args[1]));
        linalg::YieldOp::create(
            b, l, arith::AddFOp::create(b, l, args[2], product).getResult());
      });

  // out = O / L, or 0 where the row saw no key.
  Type outElementType = op.getOutputType().getElementType();
  Value out = buildGeneric(
      {unnormalized, rowSum}, op.getOutput(), 4,
      {{d0, d1, d2, d3}, {d0, d1, d2}, {d0, d1, d2, d3}}, 0,
      [&](OpBuilder &b, Location l, ValueRange args) {
        Value seen = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT,
                                           args[1], buildF32Constant(b, 0.0f));
        Value normalized = arith::DivFOp::create(b, l, args[0], args[1]);
        Value result = arith::SelectOp::create(b, l, seen, normalized,
                                               buildF32Constant(b, 0.0f));
        linalg::YieldOp::create(
            b, l, buildTruncateFromF32(b, l, result, outElementType));
      });
  SmallVector<Value> results = {out};
  if (!op.getLse())
    return results;

  // lse = M + log(L), or -inf where the row saw no key.
  results.push_back(buildGeneric(
      {rowMax, rowSum}, op.getLse(), 3, {{d0, d1, d2}, {d0, d1, d2}, {d0, d1, d2}},
      0, [&](OpBuilder &b, Location l, ValueRange args) {
        Value seen = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT,
                                           args[1], buildF32Constant(b, 0.0f));
        Value lse = arith::AddFOp::create(b, l, args[0],
                                          math::LogOp::create(b, l, args[1]));
        linalg::YieldOp::create(
            b, l,
            arith::SelectOp::create(b, l, seen, lse, buildF32Constant(b, negInf))
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
    rewriter.replaceOp(op, ReferenceAttentionBuilder(rewriter, op).build());
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
