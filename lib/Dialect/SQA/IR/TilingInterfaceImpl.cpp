//===- TilingInterfaceImpl.cpp - TilingInterface for sqa.attention --------===//
//
// sqa.attention tiles over its parallel dimensions (batch, output head, query
// row). A tile is again an sqa.attention, on slices:
//
//   query [b0:bs, qh0:qhs, i0:is, :]   key/value [b0:bs, kh0:khs, :, :]
//   out   [b0:bs, h0:hs,   i0:is, :]   lse       [b0:bs, h0:hs, i0:is]
//
// where the head slices keep the op's head mapping valid inside the tile, and
// the tile's mask diagonal is shifted by i0 (diagonal_offset).
//
//===----------------------------------------------------------------------===//

#include "sqa/Dialect/SQA/IR/SQAOps.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::sqa;

namespace {
/// The query and key/value head ranges that a tile of `numOutputHeads`
/// output heads starting at `outputHead` reads.
struct HeadSlices {
  OpFoldResult queryOffset, kvOffset;
  int64_t numQueryHeads, numKvHeads;
};
} // namespace

/// Head tiles must be static (head counts are static, C4) and must cut the
/// head mapping along its period; offsets are assumed to be multiples of the
/// tile size, as tiling produces them.
static FailureOr<HeadSlices> getHeadSlices(OpBuilder &b, Location loc,
                                           AttentionOp op,
                                           OpFoldResult outputHead,
                                           OpFoldResult numOutputHeads) {
  std::optional<int64_t> tileHeads = getConstantIntValue(numOutputHeads);
  if (!tileHeads || *tileHeads <= 0)
    return failure();
  int64_t hq = op.getNumQueryHeads(), hkv = op.getNumKvHeads();
  int64_t tile = *tileHeads;
  auto apply = [&](AffineExpr expr) {
    return affine::makeComposedFoldedAffineApply(b, loc, expr, {outputHead});
  };
  AffineExpr h = getAffineDimExpr(0, b.getContext());
  if (!op.isReverse()) {
    // Output head h reads query head h and key/value head h / G.
    int64_t group = hq / hkv;
    if (tile % group != 0 && group % tile != 0)
      return failure();
    return HeadSlices{outputHead, apply(h.floorDiv(group)), tile,
                      std::max<int64_t>(tile / group, 1)};
  }
  // Reverse SQA: query head h mod Hq and key/value head h.
  if (hq % tile == 0)
    return HeadSlices{apply(h % hq), outputHead, tile, tile};
  if (tile % hq == 0)
    return HeadSlices{b.getIndexAttr(0), outputHead, hq, tile};
  return failure();
}

SmallVector<utils::IteratorType> AttentionOp::getLoopIteratorTypes() {
  return SmallVector<utils::IteratorType>(3, utils::IteratorType::parallel);
}

SmallVector<Range> AttentionOp::getIterationDomain(OpBuilder &b) {
  Location loc = getLoc();
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  return {
      Range{zero, tensor::getMixedSize(b, loc, getQuery(), 0), one},
      Range{zero, b.getIndexAttr(getNumOutputHeads()), one},
      Range{zero, tensor::getMixedSize(b, loc, getQuery(), 2), one},
  };
}

LogicalResult AttentionOp::getResultTilePosition(
    OpBuilder &b, unsigned resultNumber, ArrayRef<OpFoldResult> offsets,
    ArrayRef<OpFoldResult> sizes, SmallVector<OpFoldResult> &resultOffsets,
    SmallVector<OpFoldResult> &resultSizes) {
  resultOffsets.assign(offsets.begin(), offsets.end());
  resultSizes.assign(sizes.begin(), sizes.end());
  if (resultNumber == 0) {
    resultOffsets.push_back(b.getIndexAttr(0));
    resultSizes.push_back(b.getIndexAttr(getValueHeadDim()));
  }
  return success();
}

FailureOr<TilingResult>
AttentionOp::getTiledImplementation(OpBuilder &b,
                                    ArrayRef<OpFoldResult> offsets,
                                    ArrayRef<OpFoldResult> sizes) {
  if (!hasPureTensorSemantics())
    return emitOpError("can only be tiled with tensor semantics");
  Location loc = getLoc();
  FailureOr<HeadSlices> heads =
      getHeadSlices(b, loc, *this, offsets[1], sizes[1]);
  if (failed(heads))
    return emitOpError("cannot tile ")
           << getNumOutputHeads()
           << " output heads (Hq = " << getNumQueryHeads()
           << ", Hkv = " << getNumKvHeads()
           << "): the head tile must be static and follow the head grouping";

  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  SmallVector<Operation *> slices;
  auto slice = [&](Value source, ArrayRef<OpFoldResult> sliceOffsets,
                   ArrayRef<OpFoldResult> sliceSizes) -> Value {
    SmallVector<OpFoldResult> strides(sliceOffsets.size(), one);
    auto op = tensor::ExtractSliceOp::create(b, loc, source, sliceOffsets,
                                             sliceSizes, strides);
    slices.push_back(op);
    return op.getResult();
  };
  OpFoldResult batch = offsets[0], batchSize = sizes[0];
  OpFoldResult row = offsets[2], rowSize = sizes[2];
  OpFoldResult keySeqLen = tensor::getMixedSize(b, loc, getKey(), 2);
  Value query = slice(getQuery(), {batch, heads->queryOffset, row, zero},
                      {batchSize, b.getIndexAttr(heads->numQueryHeads), rowSize,
                       b.getIndexAttr(getHeadDim())});
  SmallVector<OpFoldResult> kvOffsets = {batch, heads->kvOffset, zero, zero};
  OpFoldResult numKvHeads = b.getIndexAttr(heads->numKvHeads);
  Value key =
      slice(getKey(), kvOffsets,
            {batchSize, numKvHeads, keySeqLen, b.getIndexAttr(getHeadDim())});
  Value value = slice(
      getValue(), kvOffsets,
      {batchSize, numKvHeads, keySeqLen, b.getIndexAttr(getValueHeadDim())});
  SmallVector<Value> outputs;
  for (unsigned i = 0, e = getOutputs().size(); i < e; ++i) {
    SmallVector<OpFoldResult> outOffsets, outSizes;
    if (failed(
            getResultTilePosition(b, i, offsets, sizes, outOffsets, outSizes)))
      return failure();
    outputs.push_back(slice(getOutputs()[i], outOffsets, outSizes));
  }

  // Shift the mask diagonal by the tile's first row.
  Value diagonalOffset;
  if (getMaskKind() != MaskKind::none || getWindow()) {
    Value offset = getDiagonalOffset();
    if (!offset)
      offset =
          getMaskKind() == MaskKind::causal_top_left
              ? arith::ConstantIndexOp::create(b, loc, 0).getResult()
              : arith::SubIOp::create(
                    b, loc, getValueOrCreateConstantIndexOp(b, loc, keySeqLen),
                    getValueOrCreateConstantIndexOp(
                        b, loc, tensor::getMixedSize(b, loc, getQuery(), 2)))
                    .getResult();
    diagonalOffset = arith::AddIOp::create(
        b, loc, offset, getValueOrCreateConstantIndexOp(b, loc, row));
  }

  auto tiled = AttentionOp::create(
      b, loc, ValueRange(outputs).getTypes(), query, key, value, outputs,
      diagonalOffset, getMaskAttr(), getWindowAttr(), getScaleAttr());
  return TilingResult{{tiled}, SmallVector<Value>(tiled->getResults()), slices};
}
