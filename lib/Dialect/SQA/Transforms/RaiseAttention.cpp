//===- RaiseAttention.cpp - linalg attention to sqa.attention -------------===//
//
// Recognises contraction -> (scale, causal mask) -> linalg.softmax ->
// contraction on [batch, heads, seq, head_dim] tensors, or matmul /
// batch_matmul on flattened heads, and rewrites it into sqa.attention. What
// lies between Q Kᵀ and the softmax is read by analyzeScoreForm
// (ScoreForm.cpp), which evaluates it symbolically.
//
//===----------------------------------------------------------------------===//

#include "sqa/Dialect/SQA/Transforms/Passes.h"
#include "sqa/Dialect/SQA/Transforms/Transforms.h"

#include "ScoreForm.h"

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

/// Whether every query row of `form` sees a key (given one key at least):
/// a causal band j <= i + d with d >= 0. Where a row sees none,
/// linalg.softmax gives NaN and sqa.attention zeros, so such forms are not
/// raised. Checked before a pattern creates any op.
static bool hasVisibleKeyInEveryRow(const ScoreForm &form) {
  return !form.causalOffset || *form.causalOffset >= 0;
}

/// Creates sqa.attention on the given operands with `scale` and returns it
/// if the op verifier accepts it; otherwise erases it and returns null. The
/// verifier decides which shapes and element types are accepted; its
/// diagnostics are dropped, since a form that sqa.attention cannot express
/// is simply left alone.
static AttentionOp buildVerifiedAttention(PatternRewriter &rewriter,
                                          Location loc, Type resultType,
                                          Value query, Value key, Value value,
                                          Value init, const ScoreForm &form) {
  // A causal band j <= i + d: the op's bottom-right mask where d = Skv - Sq
  // (static), top-left where d = 0, else top-left with d as its diagonal
  // offset. A row with no visible key (d < 0) gives NaN through
  // linalg.softmax and zeros through sqa.attention: not raised.
  MaskKindAttr mask;
  Value diagonalOffset;
  if (std::optional<int64_t> offset = form.causalOffset) {
    assert(*offset >= 0 && "checked by hasVisibleKeyInEveryRow");
    int64_t sq = cast<ShapedType>(query.getType()).getDimSize(2);
    int64_t skv = cast<ShapedType>(key.getType()).getDimSize(2);
    bool bottomRight = !ShapedType::isDynamic(sq) &&
                       !ShapedType::isDynamic(skv) && *offset == skv - sq;
    mask = MaskKindAttr::get(rewriter.getContext(),
                             bottomRight ? MaskKind::causal_bottom_right
                                         : MaskKind::causal_top_left);
    if (!bottomRight && *offset != 0)
      diagonalOffset = arith::ConstantIndexOp::create(rewriter, loc, *offset);
  }
  auto attention = AttentionOp::create(
      rewriter, loc, TypeRange{resultType}, query, key, value, ValueRange{init},
      diagonalOffset, mask, /*window=*/nullptr,
      rewriter.getF32FloatAttr(static_cast<float>(form.scale)));
  bool verified = false;
  {
    ScopedDiagnosticHandler silence(rewriter.getContext(),
                                    [](Diagnostic &) { return success(); });
    verified = succeeded(attention.verifyInvariants()) &&
               succeeded(attention.verify());
  }
  if (verified)
    return attention;
  rewriter.eraseOp(attention);
  if (diagonalOffset)
    rewriter.eraseOp(diagonalOffset.getDefiningOp());
  return nullptr;
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

    // The softmax's input: S times a scale, maybe causally masked,
    // elementwise (analyzeScoreForm).
    FailureOr<ScoreForm> form =
        analyzeScoreForm(softmax.getInput(), [](Value v) {
          auto op = v.getDefiningOp<linalg::GenericOp>();
          return op && isZeroInitContraction(op);
        });
    if (failed(form))
      return rewriter.notifyMatchFailure(
          pv, "the softmax's input is not Q Kᵀ scaled (and causally masked)");
    if (!hasVisibleKeyInEveryRow(*form))
      return rewriter.notifyMatchFailure(pv, "a query row sees no key");
    Value scores = form->scores;

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
    AttentionOp attention = buildVerifiedAttention(
        rewriter, loc, outType, query, key.tensor, value.tensor, init, *form);
    if (!attention)
      return rewriter.notifyMatchFailure(pv, "not a valid sqa.attention");
    rewriter.replaceOp(pv, attention.getResults());
    return success();
  }
};

/// Whether `op` is a linalg.matmul or linalg.batch_matmul accumulating into
/// a zero fill, with its default indexing maps or, when `allowTransposedB`,
/// with B read transposed (`transposedB` says which).
static bool isZeroInitMatmul(linalg::LinalgOp op, bool allowTransposedB,
                             bool &transposedB) {
  if (!isa<linalg::MatmulOp, linalg::BatchMatmulOp>(op.getOperation()) ||
      op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1)
    return false;
  auto fill = op.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
  if (!fill || !matchPattern(fill.value(), m_AnyZeroFloat()))
    return false;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  SmallVector<AffineMap> expected =
      isa<linalg::MatmulOp>(op.getOperation())
          ? linalg::MatmulOp::getDefaultIndexingMaps(op.getContext())
          : linalg::BatchMatmulOp::getDefaultIndexingMaps(op.getContext());
  transposedB = false;
  if (maps == expected)
    return true;
  if (!allowTransposedB || maps[0] != expected[0] || maps[2] != expected[2])
    return false;
  // B[.., k, n] read as B[.., n, k].
  unsigned n = expected[1].getNumResults();
  SmallVector<AffineExpr> swapped(expected[1].getResults());
  std::swap(swapped[n - 2], swapped[n - 1]);
  transposedB = maps[1] == AffineMap::get(expected[1].getNumDims(), 0, swapped,
                                          op.getContext());
  return transposedB;
}

/// The [batch, heads, seq, dim] tensor that a matmul operand `value` ([N, S,
/// D] or [S, D]) flattens, with the head map of a key or value through a
/// repeat_interleave broadcast: `value` is a collapse_shape merging the
/// leading dims of a rank-4 tensor ([[0, 1], [2], [3]]), or of a
/// head-broadcast rank-5 one ([[0, 1, 2], [3], [4]]). Null when it is
/// neither.
static HeadSource getHeadedSource(Value value) {
  MLIRContext *ctx = value.getContext();
  AffineExpr d1 = getAffineDimExpr(1, ctx);
  auto collapse = value.getDefiningOp<tensor::CollapseShapeOp>();
  if (!collapse)
    return {Value(), d1};
  auto sourceType = cast<RankedTensorType>(collapse.getSrc().getType());
  SmallVector<ReassociationIndices> reassociation =
      collapse.getReassociationIndices();
  if (sourceType.getRank() == 4 &&
      reassociation == SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}})
    return stripHeadBroadcast(collapse.getSrc(), d1);
  if (sourceType.getRank() != 5 ||
      reassociation != SmallVector<ReassociationIndices>{{0, 1, 2}, {3}, {4}})
    return {Value(), d1};
  // [B, H, G, S, D] -> [B * H * G, S, D] of broadcast(source, dims = [2]).
  auto broadcast = collapse.getSrc().getDefiningOp<linalg::BroadcastOp>();
  int64_t group = sourceType.getDimSize(2);
  if (!broadcast || broadcast.getDimensions() != ArrayRef<int64_t>{2} ||
      ShapedType::isDynamic(group) || group <= 0)
    return {Value(), d1};
  return {broadcast.getInput(), d1.floorDiv(group)};
}

/// `value` ([N, S, D] or [S, D]) as a [N, 1, S, D] or [1, 1, S, D] tensor.
static Value expandToOneHead(PatternRewriter &rewriter, Location loc,
                             Value value) {
  auto type = cast<RankedTensorType>(value.getType());
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, value);
  SmallVector<OpFoldResult> shape;
  SmallVector<ReassociationIndices> reassociation;
  if (type.getRank() == 3) {
    shape = {sizes[0], rewriter.getIndexAttr(1), sizes[1], sizes[2]};
    reassociation = {{0, 1}, {2}, {3}};
  } else {
    shape = {rewriter.getIndexAttr(1), rewriter.getIndexAttr(1), sizes[0],
             sizes[1]};
    reassociation = {{0, 1, 2}, {3}};
  }
  SmallVector<int64_t> staticShape;
  SmallVector<Value> dynamicShape;
  dispatchIndexOpFoldResults(shape, dynamicShape, staticShape);
  return tensor::ExpandShapeOp::create(
      rewriter, loc, RankedTensorType::get(staticShape, type.getElementType()),
      value, reassociation, shape);
}

/// Raises the form front ends emit, on flattened heads: matmul or
/// batch_matmul of Q and Kᵀ (K transposed by linalg.transpose or by the
/// matmul's B map), an optional scale, linalg.softmax over keys, and a
/// matmul or batch_matmul with V, each accumulating into a zero fill. The
/// heads come back from the collapse_shape ops that flattened [batch, heads]
/// (and the repeat_interleave broadcast of GQA); without them each matrix of
/// the batch is one head.
struct RaiseMatmulAttentionPattern
    : OpInterfaceRewritePattern<linalg::LinalgOp> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;

  LogicalResult matchAndRewrite(linalg::LinalgOp pv,
                                PatternRewriter &rewriter) const override {
    bool transposed = false;
    if (!isZeroInitMatmul(pv, /*allowTransposedB=*/false, transposed))
      return rewriter.notifyMatchFailure(pv, "not a zero-init matmul");
    auto outType = cast<RankedTensorType>(pv->getResult(0).getType());
    int64_t rank = outType.getRank();
    auto softmax = pv.getDpsInputs()[0].getDefiningOp<linalg::SoftmaxOp>();
    if (!softmax || static_cast<int64_t>(softmax.getDimension()) != rank - 1 ||
        !softmax->hasOneUse())
      return rewriter.notifyMatchFailure(pv, "P is not a softmax over keys");
    FailureOr<ScoreForm> form =
        analyzeScoreForm(softmax.getInput(), [&](Value v) {
          auto op = v.getDefiningOp<linalg::LinalgOp>();
          bool transposedB = false;
          return op && op->getName() == pv->getName() &&
                 isZeroInitMatmul(op, /*allowTransposedB=*/true, transposedB);
        });
    if (failed(form))
      return rewriter.notifyMatchFailure(
          pv, "the softmax's input is not Q Kᵀ scaled (and causally masked)");
    if (!hasVisibleKeyInEveryRow(*form))
      return rewriter.notifyMatchFailure(pv, "a query row sees no key");
    auto qk = form->scores.getDefiningOp<linalg::LinalgOp>();
    if (!qk || !qk->hasOneUse() || qk->getName() != pv->getName() ||
        !isZeroInitMatmul(qk, /*allowTransposedB=*/true, transposed))
      return rewriter.notifyMatchFailure(pv, "S is not a zero-init Q x Kᵀ");
    Value key = qk.getDpsInputs()[1];
    if (!transposed) {
      auto transpose = key.getDefiningOp<linalg::TransposeOp>();
      SmallVector<int64_t> swap = rank == 3 ? SmallVector<int64_t>{0, 2, 1}
                                            : SmallVector<int64_t>{1, 0};
      if (!transpose || !transpose->hasOneUse() ||
          transpose.getPermutation() != ArrayRef<int64_t>(swap))
        return rewriter.notifyMatchFailure(pv, "Kᵀ is not a transpose of K");
      key = transpose.getInput();
    }
    Value query = qk.getDpsInputs()[0], value = pv.getDpsInputs()[1];

    // The heads: all three operands unflattened, or none.
    Location loc = pv.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    AffineExpr d1 = getAffineDimExpr(1, ctx);
    HeadSource q4 = getHeadedSource(query), k4 = getHeadedSource(key),
               v4 = getHeadedSource(value);
    bool headed = q4.tensor && k4.tensor && v4.tensor && q4.head == d1 &&
                  k4.head == v4.head;
    if (!headed && (q4.tensor || k4.tensor || v4.tensor))
      return rewriter.notifyMatchFailure(pv, "heads flattened inconsistently");
    if (!headed) {
      q4 = {expandToOneHead(rewriter, loc, query), d1};
      k4 = {expandToOneHead(rewriter, loc, key), d1};
      v4 = {expandToOneHead(rewriter, loc, value), d1};
    }
    auto queryType = cast<RankedTensorType>(q4.tensor.getType());
    auto keyType = cast<RankedTensorType>(k4.tensor.getType());
    int64_t hq = queryType.getDimSize(1), hkv = keyType.getDimSize(1);
    if (ShapedType::isDynamic(hq) || ShapedType::isDynamic(hkv) || hkv <= 0 ||
        hq % hkv != 0 || k4.head != (hq == hkv ? d1 : d1.floorDiv(hq / hkv)))
      return rewriter.notifyMatchFailure(pv, "head mapping is not GQA");

    // out [B, Hq, Sq, Dv] in the matmul's element type.
    int64_t valueDim =
        cast<RankedTensorType>(v4.tensor.getType()).getDimSize(3);
    SmallVector<OpFoldResult> outSizes = {
        tensor::getMixedSize(rewriter, loc, q4.tensor, 0),
        rewriter.getIndexAttr(hq),
        tensor::getMixedSize(rewriter, loc, q4.tensor, 2),
        rewriter.getIndexAttr(valueDim)};
    Value init = tensor::EmptyOp::create(rewriter, loc, outSizes,
                                         outType.getElementType());
    AttentionOp attention =
        buildVerifiedAttention(rewriter, loc, init.getType(), q4.tensor,
                               k4.tensor, v4.tensor, init, *form);
    if (!attention)
      return rewriter.notifyMatchFailure(pv, "not a valid sqa.attention");
    Value result = attention.getResult(0);

    // Where the [batch, heads] of the output are unflattened again, the
    // attention replaces that expand_shape; elsewhere it is flattened back.
    if (headed && pv->hasOneUse()) {
      auto expand = dyn_cast<tensor::ExpandShapeOp>(*pv->getUsers().begin());
      if (expand && expand.getResultType() == result.getType() &&
          expand.getReassociationIndices() ==
              SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}}) {
        rewriter.replaceOp(expand, result);
        rewriter.eraseOp(pv);
        return success();
      }
    }
    SmallVector<ReassociationIndices> flatten =
        rank == 3 ? SmallVector<ReassociationIndices>{{0, 1}, {2}, {3}}
                  : SmallVector<ReassociationIndices>{{0, 1, 2}, {3}};
    rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(pv, outType, result,
                                                         flatten);
    return success();
  }
};

struct SQARaiseAttentionPass
    : sqa::impl::SQARaiseAttentionPassBase<SQARaiseAttentionPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateRaiseAttentionPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns)))) {
      getOperation()->emitError(
          "sqa-raise-attention: the rewrites did not converge");
      return signalPassFailure();
    }
  }
};
} // namespace

void mlir::sqa::populateRaiseAttentionPatterns(RewritePatternSet &patterns) {
  patterns.add<RaiseAttentionPattern, RaiseMatmulAttentionPattern>(
      patterns.getContext());
}
