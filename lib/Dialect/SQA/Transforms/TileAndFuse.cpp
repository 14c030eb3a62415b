//===- TileAndFuse.cpp - FlashAttention tiling of sqa.attention -----------===//
//
// Tiles sqa.attention over (batch, head, query block) through its
// TilingInterface, and decomposes each tile into an online softmax over key
// blocks (Dao et al., FlashAttention; Milakov & Gimelshein, online softmax).
//
//===----------------------------------------------------------------------===//

#include "sqa/Dialect/SQA/Transforms/Passes.h"
#include "sqa/Dialect/SQA/Transforms/Transforms.h"

#include "sqa/Dialect/SQA/Utils/AttentionUtils.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <limits>

namespace mlir {
namespace sqa {
#define GEN_PASS_DEF_SQATILEANDFUSEPASS
#include "sqa/Dialect/SQA/Transforms/Passes.h.inc"
} // namespace sqa
} // namespace mlir

using namespace mlir;
using namespace mlir::sqa;

FailureOr<std::pair<scf::ForallOp, AttentionOp>>
mlir::sqa::tileAttention(RewriterBase &rewriter, AttentionOp op,
                         int64_t queryBlock) {
  if (queryBlock <= 0 || queryBlock > kMaxAttentionBlock)
    return rewriter.notifyMatchFailure(op, "q-block out of range");
  scf::SCFTilingOptions options;
  options.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
  options.setTileSizes({rewriter.getIndexAttr(1), rewriter.getIndexAttr(1),
                        rewriter.getIndexAttr(queryBlock)});
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(op);
  FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
      rewriter, cast<TilingInterface>(op.getOperation()), options);
  if (failed(tiled))
    return failure();
  rewriter.replaceOp(op, tiled->replacements);
  return std::make_pair(cast<scf::ForallOp>(tiled->loops.front()),
                        cast<AttentionOp>(tiled->tiledOps.front()));
}

FailureOr<scf::ForOp> mlir::sqa::decomposeAttention(RewriterBase &rewriter,
                                                    AttentionOp op,
                                                    int64_t keyBlock) {
  if (keyBlock <= 0 || keyBlock > kMaxAttentionBlock)
    return rewriter.notifyMatchFailure(op, "kv-block out of range");
  if (!op.hasPureTensorSemantics())
    return rewriter.notifyMatchFailure(op, "expected tensor operands");

  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(op);
  Location loc = op.getLoc();
  const float negInf = -std::numeric_limits<float>::infinity();
  auto indexConstant = [&](OpBuilder &b, int64_t value) -> Value {
    return arith::ConstantIndexOp::create(b, loc, value);
  };
  OpFoldResult batch = tensor::getMixedSize(rewriter, loc, op.getQuery(), 0);
  OpFoldResult numHeads = rewriter.getIndexAttr(op.getNumOutputHeads());
  Value querySeqLen = getValueOrCreateConstantIndexOp(
      rewriter, loc, tensor::getMixedSize(rewriter, loc, op.getQuery(), 2));
  Value keySeqLen = getValueOrCreateConstantIndexOp(
      rewriter, loc, tensor::getMixedSize(rewriter, loc, op.getKey(), 2));
  SmallVector<OpFoldResult> rowSizes = {batch, numHeads, querySeqLen};
  SmallVector<OpFoldResult> accSizes = {
      batch, numHeads, querySeqLen,
      rewriter.getIndexAttr(op.getValueHeadDim())};

  AffineExpr d0, d1, d2, d3;
  bindDims(rewriter.getContext(), d0, d1, d2, d3);
  SmallVector<AffineExpr> all = {d0, d1, d2, d3}, rows = {d0, d1, d2};

  // The visible keys of row i start and end no earlier than those of row
  // i - 1, so the keys of the tile lie in [begin(first row), end(last row)).
  // Starting at the key block that holds begin(first row) keeps the blocks
  // aligned to multiples of keyBlock.
  Value zero = indexConstant(rewriter, 0);
  Value lastRow =
      arith::MaxSIOp::create(rewriter, loc,
                             arith::SubIOp::create(rewriter, loc, querySeqLen,
                                                   indexConstant(rewriter, 1)),
                             zero);
  Value firstKey =
      buildVisibleKeyRange(rewriter, loc, op, zero, querySeqLen, keySeqLen)
          .begin;
  Value endKey =
      buildVisibleKeyRange(rewriter, loc, op, lastRow, querySeqLen, keySeqLen)
          .end;
  Value blockSize = indexConstant(rewriter, keyBlock);
  Value startKey = arith::MulIOp::create(
      rewriter, loc, arith::DivUIOp::create(rewriter, loc, firstKey, blockSize),
      blockSize);

  // Scores in log2 units: exp(x) = exp2(x * log2(e)), with log2(e) folded
  // into the scale.
  float scaleLog2 = op.getScaleLog2();
  // The scores are scaled by c = scale * log2(e) with the mask, so the
  // online softmax works in exp2 units with c = 1.
  OnlineSoftmax softmax(/*scaleLog2=*/1.0f);
  int64_t numKvHeads = op.getNumKvHeads();
  auto keyLoop = scf::ForOp::create(
      rewriter, loc, startKey, endKey, blockSize,
      ValueRange{buildFilledF32Tensor(rewriter, loc, rowSizes, negInf),
                 buildFilledF32Tensor(rewriter, loc, rowSizes, 0.0f),
                 buildFilledF32Tensor(rewriter, loc, accSizes, 0.0f)},
      [&](OpBuilder &b, Location l, Value blockStart, ValueRange carried) {
        Value runningMax = carried[0], runningSum = carried[1],
              acc = carried[2];
        // The last block may be short.
        Value blockLen = arith::MinSIOp::create(
            b, l, blockSize, arith::SubIOp::create(b, l, endKey, blockStart));
        auto keyBlockOf = [&](Value source, int64_t headDim) -> Value {
          return tensor::ExtractSliceOp::create(
              b, l, source,
              ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(0),
                                     blockStart, b.getIndexAttr(0)},
              ArrayRef<OpFoldResult>{batch, b.getIndexAttr(numKvHeads),
                                     blockLen, b.getIndexAttr(headDim)},
              ArrayRef<OpFoldResult>(
                  SmallVector<OpFoldResult>(4, b.getIndexAttr(1))));
        };
        Value keys = keyBlockOf(op.getKey(), op.getHeadDim());
        Value values = keyBlockOf(op.getValue(), op.getValueHeadDim());

        Value scores = buildQueryKeyProduct(
            b, l, op, op.getQuery(), keys,
            buildFilledF32Tensor(b, l, {batch, numHeads, querySeqLen, blockLen},
                                 0.0f));
        scores = buildScaleAndMask(b, l, op, scores, scaleLog2, blockStart,
                                   querySeqLen, keySeqLen);

        Value blockMax = buildGeneric(
            b, l, scores, buildFilledF32Tensor(b, l, rowSizes, negInf), 4,
            {all, rows}, 1, [&](OpBuilder &nb, Location nl, ValueRange args) {
              linalg::YieldOp::create(
                  nb, nl,
                  arith::MaximumFOp::create(nb, nl, args[0], args[1])
                      .getResult());
            });
        // The online softmax (OnlineSoftmax) on scores already in exp2
        // units: m' = max(m, rowmax(S)), written over m, and the correction
        // a, which rescales what was accumulated under the old max. One op
        // computes both so that m' can take m's buffer (the loop carries it
        // in place).
        AffineMap rowMap = AffineMap::get(3, 0, rows, b.getContext());
        auto maxAndCorrection = linalg::GenericOp::create(
            b, l, TypeRange{runningMax.getType(), runningMax.getType()},
            blockMax,
            ValueRange{runningMax,
                       tensor::EmptyOp::create(b, l, rowSizes, b.getF32Type())},
            SmallVector<AffineMap>(3, rowMap),
            SmallVector<utils::IteratorType>(3, utils::IteratorType::parallel),
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              Value newMax = softmax.buildReference(nb, nl, args[1], args[0]);
              Value correction = softmax.buildCorrection(
                  nb, nl, args[1], softmax.buildShift(nb, nl, newMax));
              linalg::YieldOp::create(nb, nl, ValueRange{newMax, correction});
            });
        Value newMax = maxAndCorrection.getResult(0);
        Value correction = maxAndCorrection.getResult(1);
        // P = exp2(S - shift(m')): 0 for masked keys.
        Value probs = buildGeneric(
            b, l, newMax, scores, 4, {rows, all}, 0,
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              linalg::YieldOp::create(
                  nb, nl,
                  softmax.buildExponent(nb, nl, args[1],
                                        softmax.buildShift(nb, nl, args[0])));
            });
        auto rescale = [&](Value tensor, ArrayRef<AffineExpr> exprs) {
          unsigned rank = exprs.size();
          return buildGeneric(
              b, l, correction, tensor, rank,
              {rows, SmallVector<AffineExpr>(exprs)}, 0,
              [&](OpBuilder &nb, Location nl, ValueRange args) {
                linalg::YieldOp::create(
                    nb, nl,
                    arith::MulFOp::create(nb, nl, args[1], args[0])
                        .getResult());
              });
        };
        // l = a * l + rowsum(P).
        Value newSum = buildGeneric(
            b, l, probs, rescale(runningSum, rows), 4, {all, rows}, 1,
            [&](OpBuilder &nb, Location nl, ValueRange args) {
              linalg::YieldOp::create(
                  nb, nl,
                  arith::AddFOp::create(nb, nl, args[0], args[1]).getResult());
            });
        // acc = a * acc + P V.
        Value newAcc =
            buildProbValueProduct(b, l, op, probs, values, rescale(acc, all));
        scf::YieldOp::create(b, l, ValueRange{newMax, newSum, newAcc});
      });
  Value rowMax = keyLoop.getResult(0), rowSum = keyLoop.getResult(1),
        acc = keyLoop.getResult(2);

  SmallVector<Value> results = {
      buildNormalizedOutput(rewriter, loc, op, acc, rowSum)};
  if (Value lseInit = op.getLse()) {
    results.push_back(buildGeneric(
        rewriter, loc, {rowMax, rowSum}, lseInit, 3, {rows, rows, rows}, 0,
        [&](OpBuilder &b, Location l, ValueRange args) {
          linalg::YieldOp::create(
              b, l, buildLogSumExpFromLog2(b, l, args[0], args[1]));
        }));
  }
  rewriter.replaceOp(op, results);
  return keyLoop;
}

/// Replaces `op`, whose key sequence is statically empty, by what every row
/// without a visible key gets: zeros, and lse = -inf. (Tiling it would make
/// slices at offset 0 of a dimension of size 0, which tensor.extract_slice
/// does not accept.)
static void replaceWithoutKeys(RewriterBase &rewriter, AttentionOp op) {
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(op);
  SmallVector<Value> results;
  for (auto [index, init] : llvm::enumerate(op.getOutputs())) {
    Type elementType = cast<ShapedType>(init.getType()).getElementType();
    double value = index == 0 ? 0.0 : -std::numeric_limits<double>::infinity();
    Value fill = arith::ConstantOp::create(
        rewriter, op.getLoc(), rewriter.getFloatAttr(elementType, value));
    results.push_back(
        linalg::FillOp::create(rewriter, op.getLoc(), fill, init).getResult(0));
  }
  rewriter.replaceOp(op, results);
}

FailureOr<FlashAttentionLoops>
mlir::sqa::tileAndFuseAttention(RewriterBase &rewriter, AttentionOp op,
                                const AttentionTilingOptions &options) {
  if (op.hasPureTensorSemantics() && op.getKeyType().getDimSize(2) == 0) {
    replaceWithoutKeys(rewriter, op);
    return FlashAttentionLoops{};
  }
  FailureOr<std::pair<scf::ForallOp, AttentionOp>> tiled =
      tileAttention(rewriter, op, options.queryBlock);
  if (failed(tiled))
    return failure();
  FailureOr<scf::ForOp> keyLoop =
      decomposeAttention(rewriter, tiled->second, options.keyBlock);
  if (failed(keyLoop))
    return failure();
  return FlashAttentionLoops{tiled->first, *keyLoop};
}

namespace {
struct SQATileAndFusePass
    : sqa::impl::SQATileAndFusePassBase<SQATileAndFusePass> {
  using Base::Base;

  void runOnOperation() override {
    if (queryBlock <= 0 || keyBlock <= 0 || queryBlock > kMaxAttentionBlock ||
        keyBlock > kMaxAttentionBlock) {
      getOperation()->emitError()
          << "sqa-tile-and-fuse: q-block and kv-block must be in [1, "
          << kMaxAttentionBlock << "]";
      return signalPassFailure();
    }
    SmallVector<Operation *> ops;
    getOperation()->walk([&](Operation *op) {
      if (isa<AttentionOp, AttentionGradOp>(op))
        ops.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    AttentionTilingOptions options{queryBlock, keyBlock};
    for (Operation *op : ops) {
      bool ok = true;
      if (auto attention = dyn_cast<AttentionOp>(op))
        ok = succeeded(tileAndFuseAttention(rewriter, attention, options));
      else
        ok = succeeded(tileAndFuseAttentionGrad(
            rewriter, cast<AttentionGradOp>(op), options));
      if (!ok) {
        op->emitError("sqa-tile-and-fuse failed");
        return signalPassFailure();
      }
    }
  }
};
} // namespace
