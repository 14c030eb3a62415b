//===- TileAttentionGrad.cpp - FlashAttention-2 backward of sqa.attention -===//
//
// Rewrites sqa.attention_grad into FlashAttention-2's backward (Dao, 2023,
// Algorithm 2) on tensors: no Sq x Skv value, memory linear in the sequence
// lengths, and gradients that do not depend on the order threads run in.
//
//===----------------------------------------------------------------------===//

#include "sqa/Dialect/SQA/Transforms/Transforms.h"

#include "sqa/Dialect/SQA/Utils/AttentionUtils.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::sqa;

namespace {
/// Builds the pieces of the backward on one (q-block, kv-block) pair of one
/// output head: tiles are [1, 1, rows, dim] slices of the op's operands, so
/// every head map is the identity on them.
class GradTileBuilder {
public:
  GradTileBuilder(RewriterBase &rewriter, AttentionGradOp op, Value dsum)
      : op(op), dsum(dsum), scale(op.getScaleOrDefault()) {
    Location loc = op.getLoc();
    querySeqLen = getValueOrCreateConstantIndexOp(
        rewriter, loc, tensor::getMixedSize(rewriter, loc, op.getQuery(), 2));
    keySeqLen = getValueOrCreateConstantIndexOp(
        rewriter, loc, tensor::getMixedSize(rewriter, loc, op.getKey(), 2));
  }

  /// [1, 1, len, dim (or none)] slice of `source` at (batch, head, start).
  Value slice(OpBuilder &b, Location loc, Value source, Value batch, Value head,
              Value start, Value len) {
    auto type = cast<RankedTensorType>(source.getType());
    SmallVector<OpFoldResult> offsets = {batch, head, start};
    SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1), b.getIndexAttr(1),
                                       len};
    if (type.getRank() == 4) {
      offsets.push_back(b.getIndexAttr(0));
      sizes.push_back(b.getIndexAttr(type.getDimSize(3)));
    }
    SmallVector<OpFoldResult> strides(type.getRank(), b.getIndexAttr(1));
    return tensor::ExtractSliceOp::create(b, loc, source, offsets, sizes,
                                          strides);
  }

  /// What one (q-block, kv-block) pair of output head `head` contributes:
  /// its probabilities P and score gradients dS (both [1, 1, rows, keys]).
  ///
  ///   S  = scale * Q Kᵀ, -inf where masked;   P = exp(S - lse)
  ///   dP = dO Vᵀ;   dS = P ∘ (dP - Dsum)
  std::pair<Value, Value> buildProbsAndScoreGrads(OpBuilder &b, Location loc,
                                                  Value batch, Value queryHead,
                                                  Value head, Value rowStart,
                                                  Value rowLen, Value keys,
                                                  Value values, Value keyStart,
                                                  Value keyLen, Value query) {
    AffineExpr d0, d1, d2, d3, d4;
    bindDims(b.getContext(), d0, d1, d2, d3, d4);
    SmallVector<AffineExpr> all = {d0, d1, d2, d3}, rows = {d0, d1, d2};
    OpFoldResult one = b.getIndexAttr(1);
    SmallVector<OpFoldResult> blockSizes = {one, one, rowLen, keyLen};
    if (!query)
      query = slice(b, loc, op.getQuery(), batch, queryHead, rowStart, rowLen);
    Value dout = slice(b, loc, op.getDout(), batch, head, rowStart, rowLen);
    Value lse = slice(b, loc, op.getLse(), batch, head, rowStart, rowLen);
    Value rowDot = slice(b, loc, dsum, batch, head, rowStart, rowLen);

    // Loops (b, h, i, j, d) over the tiles.
    Value scores = buildF32Contraction(
        b, loc, query, keys, buildFilledF32Tensor(b, loc, blockSizes, 0.0f), 5,
        {{d0, d1, d2, d4}, {d0, d1, d3, d4}, all}, 1);
    scores = buildScaleAndMask(b, loc, op, scores, scale, keyStart, querySeqLen,
                               keySeqLen, rowStart);
    Value probs = buildProbabilities(b, loc, scores, lse);
    Value probGrad = buildF32Contraction(
        b, loc, dout, values, buildFilledF32Tensor(b, loc, blockSizes, 0.0f), 5,
        {{d0, d1, d2, d4}, {d0, d1, d3, d4}, all}, 1);
    Value scoreGrad = buildGeneric(
        b, loc, {probs, rowDot}, probGrad, 4, {all, rows, all}, 0,
        [&](OpBuilder &nb, Location l, ValueRange args) {
          Value centered = arith::SubFOp::create(nb, l, args[2], args[1]);
          linalg::YieldOp::create(
              nb, l,
              arith::MulFOp::create(nb, l, args[0], centered).getResult());
        });
    return {probs, scoreGrad};
  }

  /// acc[.., x, e] += sum_y lhs[.., x, y] * rhs[.., y, e] (dS K), or with
  /// `transposeLhs` sum_y lhs[.., y, x] * rhs[.., y, e] (Pᵀ dO, dSᵀ Q).
  Value buildTileProduct(OpBuilder &b, Location loc, Value lhs, Value rhs,
                         Value acc, bool transposeLhs) {
    // Loops (b, h, x, e, y).
    AffineExpr d0, d1, d2, d3, d4;
    bindDims(b.getContext(), d0, d1, d2, d3, d4);
    SmallVector<AffineExpr> lhsExprs = {d0, d1, d2, d4};
    if (transposeLhs)
      lhsExprs = {d0, d1, d4, d2};
    return buildF32Contraction(b, loc, lhs, rhs, acc, 5,
                               {lhsExprs, {d0, d1, d4, d3}, {d0, d1, d2, d3}},
                               1);
  }

  /// Writes `factor` * acc, in the element type of `dest`, into `dest`.
  Value buildFinished(OpBuilder &b, Location loc, Value acc, Value dest,
                      float factor) {
    Type elementType = cast<ShapedType>(dest.getType()).getElementType();
    AffineExpr d0, d1, d2, d3;
    bindDims(b.getContext(), d0, d1, d2, d3);
    return buildGeneric(
        b, loc, acc, dest, 4, {{d0, d1, d2, d3}, {d0, d1, d2, d3}}, 0,
        [&](OpBuilder &nb, Location l, ValueRange args) {
          Value v = args[0];
          if (factor != 1.0f)
            v = arith::MulFOp::create(
                nb, l, v,
                arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(factor)));
          linalg::YieldOp::create(nb, l,
                                  buildTruncateFromF32(nb, l, v, elementType));
        });
  }

  AttentionGradOp op;
  Value dsum;
  float scale;
  Value querySeqLen, keySeqLen;
};
} // namespace

/// The length of the block at `start` of at most `block` of `total`.
static Value buildBlockLength(OpBuilder &b, Location loc, Value start,
                              int64_t block, Value total) {
  return arith::MinSIOp::create(b, loc,
                                arith::ConstantIndexOp::create(b, loc, block),
                                arith::SubIOp::create(b, loc, total, start));
}

FailureOr<FlashAttentionGradLoops>
mlir::sqa::tileAndFuseAttentionGrad(RewriterBase &rewriter, AttentionGradOp op,
                                    const AttentionTilingOptions &options) {
  if (options.queryBlock <= 0 || options.keyBlock <= 0 ||
      options.queryBlock > kMaxAttentionBlock ||
      options.keyBlock > kMaxAttentionBlock)
    return rewriter.notifyMatchFailure(op, "blocks out of range");
  if (!op.hasPureTensorSemantics())
    return rewriter.notifyMatchFailure(op, "expected tensor operands");
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(op);
  Location loc = op.getLoc();
  MLIRContext *context = rewriter.getContext();
  int64_t queryBlock = options.queryBlock, keyBlock = options.keyBlock;
  int64_t numQueryHeads = op.getNumQueryHeads(),
          numKvHeads = op.getNumKvHeads(),
          numOutputHeads = op.getNumOutputHeads();

  // The preprocess: Dsum[b, h, i] = sum_e dO[b, h, i, e] O[b, h, i, e], f32.
  AffineExpr d0, d1, d2, d3;
  bindDims(context, d0, d1, d2, d3);
  SmallVector<AffineExpr> all = {d0, d1, d2, d3}, rows = {d0, d1, d2};
  OpFoldResult batch = tensor::getMixedSize(rewriter, loc, op.getQuery(), 0);
  GradTileBuilder tiles(
      rewriter, op,
      buildF32Contraction(
          rewriter, loc, op.getDout(), op.getOut(),
          buildFilledF32Tensor(
              rewriter, loc,
              {batch, rewriter.getIndexAttr(numOutputHeads),
               tensor::getMixedSize(rewriter, loc, op.getQuery(), 2)},
              0.0f),
          4, {all, all, rows}, 1));
  Value querySeqLen = tiles.querySeqLen, keySeqLen = tiles.keySeqLen;
  AffineExpr s0;
  bindSymbols(context, s0);
  auto numBlocks = [&](Value len, int64_t block) {
    return affine::makeComposedFoldedAffineApply(
        rewriter, loc, s0.ceilDiv(block), ArrayRef<OpFoldResult>{len});
  };
  // The tile of the shared output `index` of `forall` at (batch, head,
  // start): the gradient is computed into it and inserted back, so that
  // bufferization writes it in place.
  struct OutputTile {
    Value shared, slice;
    SmallVector<OpFoldResult> offsets, sizes, strides;
  };
  auto getOutputTile = [&](scf::ForallOp forall, unsigned index,
                           Value batchIndex, Value head, Value start,
                           Value len) {
    OutputTile tile;
    tile.shared = forall.getRegionIterArgs()[index];
    int64_t dim = cast<ShapedType>(tile.shared.getType()).getDimSize(3);
    tile.offsets = {batchIndex, head, start, rewriter.getIndexAttr(0)};
    tile.sizes = {rewriter.getIndexAttr(1), rewriter.getIndexAttr(1), len,
                  rewriter.getIndexAttr(dim)};
    tile.strides.assign(4, rewriter.getIndexAttr(1));
    tile.slice = tensor::ExtractSliceOp::create(
        rewriter, loc, tile.shared, tile.offsets, tile.sizes, tile.strides);
    return tile;
  };
  // The f32 accumulator of a tile: the tile itself when the gradient is f32
  // (accumulated in place), else a buffer of its own.
  auto initAccumulator = [&](const OutputTile &tile) -> Value {
    auto type = cast<RankedTensorType>(tile.slice.getType());
    Value dest = tile.slice;
    if (!type.getElementType().isF32())
      dest = tensor::EmptyOp::create(
          rewriter, loc, tensor::getMixedSizes(rewriter, loc, tile.slice),
          rewriter.getF32Type());
    Value zeroF32 =
        arith::ConstantOp::create(rewriter, loc, rewriter.getF32FloatAttr(0));
    return linalg::FillOp::create(rewriter, loc, zeroF32, dest).getResult(0);
  };
  // Writes factor * acc in the gradient's type into the tile and inserts the
  // tile back (a no-op write is left out: the f32 tile is the accumulator).
  auto finishTile = [&](scf::ForallOp forall, const OutputTile &tile, Value acc,
                        float factor) {
    Value result = acc;
    if (factor != 1.0f || acc.getType() != tile.slice.getType())
      result = tiles.buildFinished(rewriter, loc, acc, tile.slice, factor);
    OpBuilder b = OpBuilder::atBlockEnd(forall.getTerminator().getBody());
    tensor::ParallelInsertSliceOp::create(
        b, loc, result, tile.shared, tile.offsets, tile.sizes, tile.strides);
  };
  Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);

  // dK and dV: one tile per (batch, key/value head, kv-block), holding both
  // in f32 for every output head that reads the key/value head (the G = Hq /
  // Hkv query heads of its group; for reverse SQA, the head itself) and
  // every q-block whose rows see a key of the block: no per-query-head
  // copies and no atomics.
  auto kvForall = scf::ForallOp::create(
      rewriter, loc,
      ArrayRef<OpFoldResult>{batch, rewriter.getIndexAttr(numKvHeads),
                             numBlocks(keySeqLen, keyBlock)},
      ValueRange{op.getKeyGrad(), op.getValueGrad()},
      /*mapping=*/std::nullopt);
  {
    OpBuilder::InsertionGuard bodyGuard(rewriter);
    rewriter.setInsertionPointToStart(kvForall.getBody());
    Value batchIndex = kvForall.getInductionVar(0);
    Value kvHead = kvForall.getInductionVar(1);
    Value keyBlockIndex = kvForall.getInductionVar(2);
    Value keyStart = arith::MulIOp::create(
        rewriter, loc, keyBlockIndex,
        arith::ConstantIndexOp::create(rewriter, loc, keyBlock));
    Value keyLen =
        buildBlockLength(rewriter, loc, keyStart, keyBlock, keySeqLen);
    Value keys = tiles.slice(rewriter, loc, op.getKey(), batchIndex, kvHead,
                             keyStart, keyLen);
    Value values = tiles.slice(rewriter, loc, op.getValue(), batchIndex, kvHead,
                               keyStart, keyLen);
    OutputTile keyGradTile =
        getOutputTile(kvForall, 0, batchIndex, kvHead, keyStart, keyLen);
    OutputTile valueGradTile =
        getOutputTile(kvForall, 1, batchIndex, kvHead, keyStart, keyLen);
    Value numRowBlocks = getValueOrCreateConstantIndexOp(
        rewriter, loc, numBlocks(querySeqLen, queryBlock));
    // The output heads kvHead * (Ho / Hkv) + g read kvHead.
    int64_t headsPerKv = numOutputHeads / numKvHeads;
    auto headLoop = scf::ForOp::create(
        rewriter, loc, zero,
        arith::ConstantIndexOp::create(rewriter, loc, headsPerKv), one,
        ValueRange{initAccumulator(keyGradTile),
                   initAccumulator(valueGradTile)},
        [&](OpBuilder &b, Location l, Value g, ValueRange accs) {
          Value head = buildOutputHeadReadingKvHead(b, l, op, kvHead, g);
          Value queryHead = buildHeadsRead(b, l, op, head).queryHead;
          auto rowLoop = scf::ForOp::create(
              b, l, zero, numRowBlocks, one, accs,
              [&](OpBuilder &rb, Location rl, Value rowBlock,
                  ValueRange rowAccs) {
                Value rowStart = arith::MulIOp::create(
                    rb, rl, rowBlock,
                    arith::ConstantIndexOp::create(rb, rl, queryBlock));
                // The kv-blocks the forward visits for this q-block; the
                // others hold no key any of its rows sees.
                KeyBlockSchedule schedule =
                    buildKeyBlockSchedule(rb, rl, op, rowStart, queryBlock,
                                          keyBlock, querySeqLen, keySeqLen);
                Value visited = arith::AndIOp::create(
                    rb, rl,
                    arith::CmpIOp::create(rb, rl, arith::CmpIPredicate::sle,
                                          schedule.begin, keyBlockIndex),
                    arith::CmpIOp::create(rb, rl, arith::CmpIPredicate::slt,
                                          keyBlockIndex, schedule.end));
                auto ifOp = scf::IfOp::create(
                    rb, rl, visited,
                    [&](OpBuilder &tb, Location tl) {
                      Value rowLen = buildBlockLength(tb, tl, rowStart,
                                                      queryBlock, querySeqLen);
                      Value query =
                          tiles.slice(tb, tl, op.getQuery(), batchIndex,
                                      queryHead, rowStart, rowLen);
                      auto [probs, scoreGrad] = tiles.buildProbsAndScoreGrads(
                          tb, tl, batchIndex, queryHead, head, rowStart, rowLen,
                          keys, values, keyStart, keyLen, query);
                      Value dout = tiles.slice(tb, tl, op.getDout(), batchIndex,
                                               head, rowStart, rowLen);
                      // dK += dSᵀ Q, dV += Pᵀ dO (dK's scale comes last).
                      scf::YieldOp::create(
                          tb, tl,
                          ValueRange{tiles.buildTileProduct(
                                         tb, tl, scoreGrad, query, rowAccs[0],
                                         /*transposeLhs=*/true),
                                     tiles.buildTileProduct(
                                         tb, tl, probs, dout, rowAccs[1],
                                         /*transposeLhs=*/true)});
                    },
                    [&](OpBuilder &eb, Location el) {
                      scf::YieldOp::create(eb, el, rowAccs);
                    });
                scf::YieldOp::create(rb, rl, ifOp.getResults());
              });
          scf::YieldOp::create(b, l, rowLoop.getResults());
        });
    finishTile(kvForall, keyGradTile, headLoop.getResult(0), tiles.scale);
    finishTile(kvForall, valueGradTile, headLoop.getResult(1), 1.0f);
  }

  // dQ: a second pass, one tile per (batch, query head, q-block), over the
  // output heads that read the query head (itself; for reverse SQA the
  // Hkv / Hq heads that tile it) and the kv-blocks the forward visits, in a
  // fixed order.
  auto queryForall = scf::ForallOp::create(
      rewriter, loc,
      ArrayRef<OpFoldResult>{batch, rewriter.getIndexAttr(numQueryHeads),
                             numBlocks(querySeqLen, queryBlock)},
      ValueRange{op.getQueryGrad()}, /*mapping=*/std::nullopt);
  {
    OpBuilder::InsertionGuard bodyGuard(rewriter);
    rewriter.setInsertionPointToStart(queryForall.getBody());
    Value batchIndex = queryForall.getInductionVar(0);
    Value queryHead = queryForall.getInductionVar(1);
    Value rowStart = arith::MulIOp::create(
        rewriter, loc, queryForall.getInductionVar(2),
        arith::ConstantIndexOp::create(rewriter, loc, queryBlock));
    Value rowLen =
        buildBlockLength(rewriter, loc, rowStart, queryBlock, querySeqLen);
    Value query = tiles.slice(rewriter, loc, op.getQuery(), batchIndex,
                              queryHead, rowStart, rowLen);
    KeyBlockSchedule schedule =
        buildKeyBlockSchedule(rewriter, loc, op, rowStart, queryBlock, keyBlock,
                              querySeqLen, keySeqLen);
    OutputTile queryGradTile =
        getOutputTile(queryForall, 0, batchIndex, queryHead, rowStart, rowLen);
    // The output heads r * Hq + queryHead read queryHead.
    int64_t headsPerQuery = numOutputHeads / numQueryHeads;
    auto headLoop = scf::ForOp::create(
        rewriter, loc, zero,
        arith::ConstantIndexOp::create(rewriter, loc, headsPerQuery), one,
        ValueRange{initAccumulator(queryGradTile)},
        [&](OpBuilder &b, Location l, Value r, ValueRange accs) {
          Value head = buildOutputHeadReadingQueryHead(b, l, op, queryHead, r);
          Value kvHead = buildHeadsRead(b, l, op, head).kvHead;
          auto keyLoop = scf::ForOp::create(
              b, l, schedule.begin, schedule.end, one, accs,
              [&](OpBuilder &kb, Location kl, Value keyBlockIndex,
                  ValueRange keyAccs) {
                Value keyStart = arith::MulIOp::create(
                    kb, kl, keyBlockIndex,
                    arith::ConstantIndexOp::create(kb, kl, keyBlock));
                Value keyLen =
                    buildBlockLength(kb, kl, keyStart, keyBlock, keySeqLen);
                Value keys = tiles.slice(kb, kl, op.getKey(), batchIndex,
                                         kvHead, keyStart, keyLen);
                Value values = tiles.slice(kb, kl, op.getValue(), batchIndex,
                                           kvHead, keyStart, keyLen);
                Value scoreGrad =
                    tiles
                        .buildProbsAndScoreGrads(
                            kb, kl, batchIndex, queryHead, head, rowStart,
                            rowLen, keys, values, keyStart, keyLen, query)
                        .second;
                // dQ += dS K (the scale comes last).
                scf::YieldOp::create(
                    kb, kl,
                    tiles.buildTileProduct(kb, kl, scoreGrad, keys, keyAccs[0],
                                           /*transposeLhs=*/false));
              });
          scf::YieldOp::create(b, l, keyLoop.getResults());
        });
    finishTile(queryForall, queryGradTile, headLoop.getResult(0), tiles.scale);
  }

  rewriter.replaceOp(op, {queryForall.getResult(0), kvForall.getResult(0),
                          kvForall.getResult(1)});
  return FlashAttentionGradLoops{kvForall, queryForall};
}
