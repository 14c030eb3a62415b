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

static constexpr int64_t kFragmentRowsApart = kMmaM / 2;

/// A vector<2x2xi32> fragment tile with `row0` in row 0 and `row1` in row 1.
static Value buildPerRowTile(OpBuilder &b, Location loc, Value row0,
                             Value row1) {
  return vector::FromElementsOp::create(b, loc,
                                        VectorType::get({2, 2}, b.getI32Type()),
                                        ValueRange{row0, row0, row1, row1});
}

/// `scores` where `visible(n)` holds for tile n, else -inf, under an scf.if
/// on `fullyVisible` that yields them unchanged.
static SmallVector<Value> buildMasked(OpBuilder &b, Location loc,
                                      ArrayRef<Value> scores,
                                      Value fullyVisible,
                                      function_ref<Value(int64_t)> visible) {
  auto ifOp = scf::IfOp::create(b, loc, ValueRange(scores).getTypes(),
                                fullyVisible, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  scf::YieldOp::create(b, loc, scores);
  b.setInsertionPointToStart(ifOp.elseBlock());
  auto negInf = arith::ConstantOp::create(
      b, loc,
      DenseElementsAttr::get(
          cast<VectorType>(scores.front().getType()),
          b.getF32FloatAttr(-std::numeric_limits<float>::infinity())));
  SmallVector<Value> masked;
  for (auto [n, tile] : llvm::enumerate(scores))
    masked.push_back(arith::SelectOp::create(b, loc, visible(n), tile, negInf));
  scf::YieldOp::create(b, loc, masked);
  return SmallVector<Value>(ifOp.getResults());
}

/// Whether `keys` lie in [begin, end), elementwise.
static Value buildInRange(OpBuilder &b, Location loc, Value keys, Value begin,
                          Value end) {
  return arith::AndIOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, keys, begin),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, keys, end));
}

/// The i32 tile of tile n's columns: `column` + 8 n + {0, 1} in both rows.
static Value buildTileColumns(OpBuilder &b, Location loc, Value column,
                              int64_t n) {
  auto i32Tile = VectorType::get({2, 2}, b.getI32Type());
  KernelArithmetic a(b, loc);
  Value first = a.toI32(a.add(column, n * kMmaN));
  return arith::AddIOp::create(
      b, loc, vector::BroadcastOp::create(b, loc, i32Tile, first),
      arith::ConstantOp::create(
          b, loc,
          DenseElementsAttr::get(i32Tile, ArrayRef<int32_t>{0, 1, 0, 1})));
}

QueryRowKeys mlir::sqa::buildQueryRowKeys(OpBuilder &b, Location loc,
                                          AttentionOpInterface op, Value row,
                                          Value querySeqLen, Value keySeqLen) {
  KernelArithmetic a(b, loc);
  KeyRange rangeA =
      buildVisibleKeyRange(b, loc, op, row, querySeqLen, keySeqLen);
  KeyRange rangeB = buildVisibleKeyRange(
      b, loc, op, a.add(row, kFragmentRowsApart), querySeqLen, keySeqLen);
  return {buildPerRowTile(b, loc, a.toI32(rangeA.begin), a.toI32(rangeB.begin)),
          buildPerRowTile(b, loc, a.toI32(rangeA.end), a.toI32(rangeB.end))};
}

SmallVector<Value> mlir::sqa::buildMaskedScores(OpBuilder &b, Location loc,
                                                ArrayRef<Value> scores,
                                                Value fullyVisible,
                                                const QueryRowKeys &rows,
                                                Value column) {
  return buildMasked(b, loc, scores, fullyVisible, [&](int64_t n) {
    return buildInRange(b, loc, buildTileColumns(b, loc, column, n), rows.begin,
                        rows.end);
  });
}

SmallVector<Value> mlir::sqa::buildMaskedTransposedScores(
    OpBuilder &b, Location loc, AttentionOpInterface op, ArrayRef<Value> scores,
    Value fullyVisible, Value row, Value column, Value querySeqLen,
    Value keySeqLen) {
  auto i32Tile = VectorType::get({2, 2}, b.getI32Type());
  auto pairType = VectorType::get({2}, b.getIndexType());
  KernelArithmetic a(b, loc);
  return buildMasked(b, loc, scores, fullyVisible, [&](int64_t n) {
    Value keys = buildPerRowTile(b, loc, a.toI32(row),
                                 a.toI32(a.add(row, kFragmentRowsApart)));
    // Each tile's two query columns have ranges of their own, computed for
    // both at once on a vector<2xindex>; both rows see the same two.
    Value first = a.add(column, n * kMmaN);
    Value queries = vector::FromElementsOp::create(
        b, loc, pairType, ValueRange{first, a.add(first, 1)});
    KeyRange range =
        buildVisibleKeyRange(b, loc, op, queries, querySeqLen, keySeqLen);
    return buildInRange(
        b, loc, keys,
        vector::BroadcastOp::create(b, loc, i32Tile, a.toI32(range.begin)),
        vector::BroadcastOp::create(b, loc, i32Tile, a.toI32(range.end)));
  });
}

void mlir::sqa::castToRuntimeStrides(RewriterBase &rewriter, Operation *op) {
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(op);
  rewriter.modifyOpInPlace(op, [&] {
    for (OpOperand &operand : op->getOpOperands()) {
      auto type = dyn_cast<MemRefType>(operand.get().getType());
      if (!type)
        continue;
      auto [strides, offset] = type.getStridesAndOffset();
      SmallVector<int64_t> runtimeStrides(strides.size(), ShapedType::kDynamic);
      runtimeStrides.back() = 1;
      if (strides == ArrayRef<int64_t>(runtimeStrides))
        continue;
      auto runtimeType = MemRefType::get(
          type.getShape(), type.getElementType(),
          StridedLayoutAttr::get(rewriter.getContext(), offset, runtimeStrides),
          type.getMemorySpace());
      operand.set(memref::CastOp::create(rewriter, op->getLoc(), runtimeType,
                                         operand.get()));
    }
  });
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
  SharedLayout layout = layoutSharedTiles(sharedTiles);
  SmallVector<MemRefType> tileTypes;
  for (const SharedTile &tile : sharedTiles)
    tileTypes.push_back(MemRefType::get(
        tile.getAllocatedShape(),
        tile.isF32 ? rewriter.getF32Type() : elementType,
        MemRefLayoutAttrInterface(), workgroup));
  bool dynamic = layout.isDynamic();
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
        rewriter, loc,
        rewriter.getI32IntegerAttr(static_cast<int32_t>(layout.bytes)));
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
    for (auto [type, offset] : llvm::zip(tileTypes, layout.offsets))
      tiles.push_back(memref::ViewOp::create(rewriter, loc, type, base,
                                             constant(offset), ValueRange{}));
  } else {
    llvm::append_range(tiles, launch.getWorkgroupAttributions());
  }
  buildBody(launch, tiles);
  gpu::TerminatorOp::create(rewriter, loc);
}
