//===- FlashKernelCommon.cpp - Pieces of the tensor-core kernels ----------===//

#include "FlashKernelCommon.h"

#include "sqa/Dialect/SQA/Utils/AttentionUtils.h"
#include "sqa/GPU/KernelSchedule.h"
#include "sqa/GPU/WarpTensorCore.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::sqa;

/// The mask of buildMaskedScores, built where the block is partly visible.
static SmallVector<Value>
buildMask(OpBuilder &b, Location loc, AttentionOpInterface op,
          ArrayRef<Value> scores, Value row, Value column, bool rowsAreQueries,
          Value querySeqLen, Value keySeqLen) {
  Type i32 = b.getI32Type();
  auto i32Tile = VectorType::get({2, 2}, i32);
  auto index = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  auto toI32 = [&](Value v) -> Value {
    Type type = i32;
    if (auto vectorType = dyn_cast<VectorType>(v.getType()))
      type = vectorType.clone(i32);
    return arith::IndexCastOp::create(b, loc, type, v);
  };
  // A tile-shaped i32 vector with one value per fragment row.
  auto perRow = [&](Value row0, Value row1) -> Value {
    return vector::FromElementsOp::create(b, loc, i32Tile,
                                          ValueRange{row0, row0, row1, row1});
  };
  Value rowB = arith::AddIOp::create(b, loc, row, index(kMmaM / 2));
  Value columnOffsets = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(i32Tile, ArrayRef<int32_t>{0, 1, 0, 1}));
  auto tileColumns = [&](int64_t n) -> Value {
    Value base = toI32(arith::AddIOp::create(b, loc, column, index(n * kMmaN)));
    return arith::AddIOp::create(
        b, loc, vector::BroadcastOp::create(b, loc, i32Tile, base),
        columnOffsets);
  };
  auto negInf = arith::ConstantOp::create(
      b, loc,
      DenseElementsAttr::get(
          cast<VectorType>(scores.front().getType()),
          b.getF32FloatAttr(-std::numeric_limits<float>::infinity())));
  auto select = [&](Value keys, Value begin, Value end, Value tile) -> Value {
    Value visible = arith::AndIOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, keys, begin),
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, keys, end));
    return arith::SelectOp::create(b, loc, visible, tile, negInf);
  };

  SmallVector<Value> masked;
  if (rowsAreQueries) {
    // The two rows' key ranges, the same for every tile.
    KeyRange rangeA =
        buildVisibleKeyRange(b, loc, op, row, querySeqLen, keySeqLen);
    KeyRange rangeB =
        buildVisibleKeyRange(b, loc, op, rowB, querySeqLen, keySeqLen);
    Value begin = perRow(toI32(rangeA.begin), toI32(rangeB.begin));
    Value end = perRow(toI32(rangeA.end), toI32(rangeB.end));
    for (auto [n, tile] : llvm::enumerate(scores))
      masked.push_back(select(tileColumns(n), begin, end, tile));
    return masked;
  }
  // Rows are keys; each tile's two query columns have ranges of their own,
  // computed for both at once on a vector<2xindex>.
  Value keys = perRow(toI32(row), toI32(rowB));
  auto pairType = VectorType::get({2}, b.getIndexType());
  for (auto [n, tile] : llvm::enumerate(scores)) {
    Value first = arith::AddIOp::create(b, loc, column, index(n * kMmaN));
    Value queries = vector::FromElementsOp::create(
        b, loc, pairType,
        ValueRange{first, arith::AddIOp::create(b, loc, first, index(1))});
    KeyRange range =
        buildVisibleKeyRange(b, loc, op, queries, querySeqLen, keySeqLen);
    // vector<2xi32> to the tile: both rows see the same two columns.
    Value begin = vector::BroadcastOp::create(b, loc, i32Tile, toI32(range.begin));
    Value end = vector::BroadcastOp::create(b, loc, i32Tile, toI32(range.end));
    masked.push_back(select(keys, begin, end, tile));
  }
  return masked;
}

SmallVector<Value> mlir::sqa::buildMaskedScores(
    OpBuilder &b, Location loc, AttentionOpInterface op, ArrayRef<Value> scores,
    Value fullyVisible, Value row, Value column, bool rowsAreQueries,
    Value querySeqLen, Value keySeqLen) {
  auto ifOp = scf::IfOp::create(b, loc, ValueRange(scores).getTypes(),
                                fullyVisible, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  scf::YieldOp::create(b, loc, scores);
  b.setInsertionPointToStart(ifOp.elseBlock());
  scf::YieldOp::create(b, loc,
                       buildMask(b, loc, op, scores, row, column,
                                 rowsAreQueries, querySeqLen, keySeqLen));
  return SmallVector<Value>(ifOp.getResults());
}

void mlir::sqa::createKernelLaunch(
    RewriterBase &rewriter, AttentionOpInterface op, Value blocked,
    int64_t blockRows, int64_t gridY, int64_t numWarps,
    ArrayRef<SharedTile> sharedTiles,
    function_ref<void(gpu::LaunchOp, ValueRange)> buildBody) {
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(op);
  Location loc = op.getLoc();
  auto workgroup = gpu::AddressSpaceAttr::get(rewriter.getContext(),
                                              gpu::AddressSpace::Workgroup);
  Type elementType = op.getQueryType().getElementType();
  SmallVector<MemRefType> tileTypes;
  SmallVector<int64_t> offsets;
  int64_t bytes = 0;
  for (const SharedTile &tile : sharedTiles) {
    // 16-bit tiles take the toolkit's padded rows.
    SmallVector<int64_t> shape(tile.shape);
    if (!tile.isF32)
      shape.back() = getSharedRowElements(shape.back());
    auto type =
        MemRefType::get(shape, tile.isF32 ? rewriter.getF32Type() : elementType,
                        MemRefLayoutAttrInterface(), workgroup);
    tileTypes.push_back(type);
    // 16-byte aligned: the unit of cp.async and ldmatrix.
    bytes = llvm::alignTo(bytes, 16);
    offsets.push_back(bytes);
    bytes += type.getNumElements() * type.getElementTypeBitWidth() / 8;
  }
  // Above the static limit, the tiles are views of dynamic shared memory,
  // which the launcher opts into (cuFuncSetAttribute).
  bool dynamic = bytes > kMaxStaticSharedMemory;
  SmallVector<Type> attributions;
  if (!dynamic)
    attributions.assign(tileTypes.begin(), tileTypes.end());
  auto constant = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(rewriter, loc, v);
  };
  Value gridX = arith::DivSIOp::create(
      rewriter, loc,
      arith::AddIOp::create(rewriter, loc,
                            memref::DimOp::create(rewriter, loc, blocked, 2),
                            constant(blockRows - 1)),
      constant(blockRows));
  Value gridHeads = constant(gridY);
  Value batch = memref::DimOp::create(rewriter, loc, op.getQuery(), 0);
  Value one = constant(1);
  Value threads = constant(numWarps * kThreadsPerWarp);
  Value dynamicBytes;
  if (dynamic)
    dynamicBytes = arith::ConstantOp::create(
        rewriter, loc, rewriter.getI32IntegerAttr(static_cast<int32_t>(bytes)));
  auto launch = gpu::LaunchOp::create(
      rewriter, loc, gridX, gridHeads, batch, threads, one, one, dynamicBytes,
      /*asyncTokenType=*/nullptr, /*asyncDependencies=*/{}, attributions);
  rewriter.setInsertionPointToStart(&launch.getBody().front());
  SmallVector<Value> tiles;
  if (dynamic) {
    Value base = gpu::DynamicSharedMemoryOp::create(
        rewriter, loc,
        MemRefType::get({ShapedType::kDynamic}, rewriter.getI8Type(),
                        MemRefLayoutAttrInterface(), workgroup));
    for (auto [type, offset] : llvm::zip(tileTypes, offsets))
      tiles.push_back(memref::ViewOp::create(rewriter, loc, type, base,
                                             constant(offset), ValueRange{}));
  } else {
    llvm::append_range(tiles, launch.getWorkgroupAttributions());
  }
  buildBody(launch, tiles);
  gpu::TerminatorOp::create(rewriter, loc);
}
