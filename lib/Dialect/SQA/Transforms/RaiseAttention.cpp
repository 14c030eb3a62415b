//===- RaiseAttention.cpp - linalg attention to sqa.attention -------------===//
//
// Recognises contraction -> (scale) -> linalg.softmax -> contraction on
// [batch, heads, seq, head_dim] tensors and rewrites it into sqa.attention.
//
//===----------------------------------------------------------------------===//

#include "sqa/Dialect/SQA/Transforms/Passes.h"
#include "sqa/Dialect/SQA/Transforms/Transforms.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir {
namespace sqa {
#define GEN_PASS_DEF_SQARAISEATTENTIONPASS
#include "sqa/Dialect/SQA/Transforms/Passes.h.inc"
} // namespace sqa
} // namespace mlir

using namespace mlir;
using namespace mlir::sqa;

/// Whether `op` is a linalg.generic contraction over 5 loops (4 parallel, the
/// last a reduction) with a multiply-add body, accumulating into a tensor
/// filled with zero.
static bool isZeroInitContraction(linalg::GenericOp op) {
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      op.getNumLoops() != 5 || op.getNumReductionLoops() != 1 ||
      op.getIteratorTypesArray()[4] != utils::IteratorType::reduction)
    return false;
  if (!linalg::detail::isContractionBody(
          *op.getBlock(), [](Operation *elementwise, Operation *reduce) {
            return isa<arith::MulFOp>(elementwise) &&
                   isa<arith::AddFOp>(reduce);
          }))
    return false;
  auto fill = op.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
  return fill && matchPattern(fill.value(), m_AnyZeroFloat());
}

/// Whether `map` is (d0, ..., d4) -> (d0, head, rowDim, colDim).
static bool hasLayout(AffineMap map, AffineExpr head, unsigned rowDim,
                      unsigned colDim) {
  MLIRContext *ctx = map.getContext();
  return map.getNumResults() == 4 &&
         map.getResult(0) == getAffineDimExpr(0, ctx) &&
         map.getResult(1) == head &&
         map.getResult(2) == getAffineDimExpr(rowDim, ctx) &&
         map.getResult(3) == getAffineDimExpr(colDim, ctx);
}

namespace {
/// A key or value operand with the head mapping it is read through.
struct HeadSource {
  Value tensor;
  /// Output head -> head of `tensor`, as a function of d1.
  AffineExpr head;
};
} // namespace

/// Undoes a repeat_interleave head broadcast: `value` =
/// collapse_shape(broadcast(source, dims = [2]), [[0], [1, 2], [3], [4]])
/// reads source head h floordiv G.
static HeadSource stripHeadBroadcast(Value value, AffineExpr head) {
  auto collapse = value.getDefiningOp<tensor::CollapseShapeOp>();
  if (!collapse || !collapse->hasOneUse())
    return {value, head};
  SmallVector<ReassociationIndices> expected = {{0}, {1, 2}, {3}, {4}};
  if (collapse.getReassociationIndices() != expected)
    return {value, head};
  auto broadcast = collapse.getSrc().getDefiningOp<linalg::BroadcastOp>();
  if (!broadcast || broadcast.getDimensions() != ArrayRef<int64_t>{2})
    return {value, head};
  int64_t group = cast<ShapedType>(broadcast.getInit().getType()).getDimSize(2);
  if (ShapedType::isDynamic(group) || group <= 0 ||
      head != getAffineDimExpr(1, head.getContext()))
    return {value, head};
  return {broadcast.getInput(), head.floorDiv(group)};
}

namespace {
struct RaiseAttentionPattern : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp pv,
                                PatternRewriter &rewriter) const override {
    MLIRContext *ctx = rewriter.getContext();
    AffineExpr d1 = getAffineDimExpr(1, ctx);
    if (!isZeroInitContraction(pv))
      return rewriter.notifyMatchFailure(pv, "not a zero-init contraction");
    SmallVector<AffineMap> pvMaps = pv.getIndexingMapsArray();
    // O[b, h, i, e] += P[b, h, i, j] * V[b, kh(h), j, e]; loops (b,h,i,e,j).
    if (!hasLayout(pvMaps[0], d1, 2, 4) || !hasLayout(pvMaps[2], d1, 2, 3) ||
        pvMaps[1].getNumResults() != 4 ||
        !hasLayout(pvMaps[1], pvMaps[1].getResult(1), 4, 3))
      return rewriter.notifyMatchFailure(pv, "not P x V");
    auto softmax = pv.getDpsInputs()[0].getDefiningOp<linalg::SoftmaxOp>();
    if (!softmax || softmax.getDimension() != 3 || !softmax->hasOneUse())
      return rewriter.notifyMatchFailure(pv, "P is not a softmax over keys");

    // Optional scaling: T = S * c, elementwise.
    float scale = 1.0f;
    Value scores = softmax.getInput();
    if (auto scaling = scores.getDefiningOp<linalg::GenericOp>();
        scaling && scaling.getNumLoops() == 4 &&
        scaling.getNumDpsInputs() == 1 && scaling->hasOneUse() &&
        llvm::all_of(scaling.getIndexingMapsArray(),
                     [](AffineMap m) { return m.isIdentity(); })) {
      Block *body = scaling.getBlock();
      auto mul = dyn_cast<arith::MulFOp>(&body->front());
      auto yield = cast<linalg::YieldOp>(body->getTerminator());
      FloatAttr constant;
      if (mul && body->getOperations().size() == 2 &&
          yield.getOperand(0) == mul.getResult() &&
          llvm::is_contained(mul->getOperands(), body->getArgument(0)) &&
          (matchPattern(mul.getLhs(), m_Constant(&constant)) ||
           matchPattern(mul.getRhs(), m_Constant(&constant)))) {
        scale = constant.getValueAsDouble();
        scores = scaling.getDpsInputs()[0];
      }
    }

    // S[b, h, i, j] += Q[b, qh(h), i, d] * K[b, kh(h), j, d]; loops
    // (b, h, i, j, d).
    auto qk = scores.getDefiningOp<linalg::GenericOp>();
    if (!qk || !isZeroInitContraction(qk) || !qk->hasOneUse())
      return rewriter.notifyMatchFailure(pv, "S is not a zero-init Q x K");
    SmallVector<AffineMap> qkMaps = qk.getIndexingMapsArray();
    if (qkMaps[0].getNumResults() != 4 || qkMaps[1].getNumResults() != 4 ||
        !hasLayout(qkMaps[0], qkMaps[0].getResult(1), 2, 4) ||
        !hasLayout(qkMaps[1], qkMaps[1].getResult(1), 3, 4) ||
        !hasLayout(qkMaps[2], d1, 2, 3))
      return rewriter.notifyMatchFailure(pv, "not Q x Kᵀ");

    Value query = qk.getDpsInputs()[0];
    HeadSource key =
        stripHeadBroadcast(qk.getDpsInputs()[1], qkMaps[1].getResult(1));
    HeadSource value =
        stripHeadBroadcast(pv.getDpsInputs()[1], pvMaps[1].getResult(1));
    if (key.head != value.head)
      return rewriter.notifyMatchFailure(pv, "K and V use different heads");

    // The head mapping must be the one sqa.attention defines for these
    // head counts.
    auto queryType = dyn_cast<RankedTensorType>(query.getType());
    auto keyType = dyn_cast<RankedTensorType>(key.tensor.getType());
    auto valueType = dyn_cast<RankedTensorType>(value.tensor.getType());
    auto outType = dyn_cast<RankedTensorType>(pv.getResult(0).getType());
    if (!queryType || !keyType || !valueType || !outType ||
        keyType.getRank() != 4 || valueType.getRank() != 4)
      return rewriter.notifyMatchFailure(pv, "expected rank-4 tensors");
    int64_t hq = queryType.getDimSize(1), hkv = keyType.getDimSize(1);
    if (ShapedType::isDynamic(hq) || ShapedType::isDynamic(hkv) || hq <= 0 ||
        hkv <= 0 || (hq % hkv != 0 && hkv % hq != 0))
      return rewriter.notifyMatchFailure(pv, "head counts do not nest");
    AffineExpr expectedQuery = hq >= hkv ? d1 : d1 % hq;
    AffineExpr expectedKv = hq >= hkv ? d1.floorDiv(hq / hkv) : d1;
    if (qkMaps[0].getResult(1) != expectedQuery || key.head != expectedKv)
      return rewriter.notifyMatchFailure(pv, "head mapping is not GQA/SQA");

    Location loc = pv.getLoc();
    Value init =
        pv.getDpsInits()[0].getDefiningOp<linalg::FillOp>().getDpsInits()[0];
    auto attention = AttentionOp::create(
        rewriter, loc, TypeRange{outType}, query, key.tensor, value.tensor,
        ValueRange{init}, /*diagonal_offset=*/Value(), /*mask=*/nullptr,
        /*window=*/nullptr, rewriter.getF32FloatAttr(scale));
    // The op's verifier decides which shapes and element types are
    // accepted; its diagnostics are dropped, since a linalg form that
    // sqa.attention cannot express is simply left alone.
    LogicalResult verified = success();
    {
      ScopedDiagnosticHandler silence(ctx,
                                      [](Diagnostic &) { return success(); });
      verified = succeeded(attention.verifyInvariants()) &&
                         succeeded(attention.verify())
                     ? success()
                     : failure();
    }
    if (failed(verified)) {
      rewriter.eraseOp(attention);
      return rewriter.notifyMatchFailure(pv, "not a valid sqa.attention");
    }
    rewriter.replaceOp(pv, attention.getResults());
    return success();
  }
};

struct SQARaiseAttentionPass
    : sqa::impl::SQARaiseAttentionPassBase<SQARaiseAttentionPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateRaiseAttentionPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace

void mlir::sqa::populateRaiseAttentionPatterns(RewritePatternSet &patterns) {
  patterns.add<RaiseAttentionPattern>(patterns.getContext());
}
