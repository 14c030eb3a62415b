//===- WarpTensorCore.cpp - Warp-level tensor-core building blocks --------===//

#include "sqa/GPU/WarpTensorCore.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::sqa;

WarpTensorCoreBuilder::WarpTensorCoreBuilder(OpBuilder &b, Location loc,
                                             Type elementType)
    : b(b), loc(loc), elementType(elementType) {}

Value WarpTensorCoreBuilder::index(int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

VectorType WarpTensorCoreBuilder::getAType() const {
  return VectorType::get({4, 2}, elementType);
}

VectorType WarpTensorCoreBuilder::getBType() const {
  return VectorType::get({2, 2}, elementType);
}

VectorType WarpTensorCoreBuilder::getAccumulatorType() const {
  return VectorType::get({2, 2}, Float32Type::get(elementType.getContext()));
}

Value WarpTensorCoreBuilder::buildZeroAccumulator() {
  return arith::ConstantOp::create(
      b, loc,
      DenseElementsAttr::get(getAccumulatorType(), b.getF32FloatAttr(0)));
}

int64_t mlir::sqa::getSharedRowElements(int64_t width) {
  return width + kChunkElements;
}

/// `base` + `offset`, or `base` when the offset is 0.
static Value addOffset(OpBuilder &b, Location loc, Value base, int64_t offset) {
  if (offset == 0)
    return base;
  return arith::AddIOp::create(b, loc, base,
                               arith::ConstantIndexOp::create(b, loc, offset));
}

/// The largest power of two, up to 8, that divides `chunks` (a row's
/// 16-byte chunks): tile copies number chunks in lines of this many (128
/// bytes where the row allows).
static int64_t getChunkGroup(int64_t chunks) {
  return std::min<int64_t>(chunks & -chunks, 8);
}

SmallVector<Value> WarpTensorCoreBuilder::buildTileCopy(const TileCopy &copy) {
  int64_t chunksPerRow = copy.width / kChunkElements;
  int64_t numChunks = copy.rows * chunksPerRow;
  // Chunks are numbered line by line: a line is the row's chunk group (8
  // chunks, 128 bytes, or 4 or 2 where the row's chunks are not a multiple
  // of 8: whole 32-byte sectors for consecutive threads either way), and a
  // row of several lines is split into lines taken column-major (line 0 of
  // every row, then line 1, ...). A thread's copies then share rows where
  // rows are long, at addresses a constant line apart: one source pointer
  // serves them, where row-major numbering would need one per row (the row
  // stride is a runtime value).
  int64_t lineChunks = getChunkGroup(chunksPerRow);
  int64_t tileLineChunks = copy.rows * lineChunks;
  Value lastRow;
  if (!copy.wholeRows)
    lastRow = arith::SubIOp::create(b, loc, copy.seqLen, index(1));
  SmallVector<Value> tokens;
  // When there are fewer chunks than threads, several threads copy the same
  // chunk: they write identical bytes, and no thread needs a guard (whose
  // scf.if could not yield the copy's token).
  // Where the threads cover whole lines of the tile in each pass (the
  // usual case), copy i of a thread is at the row and column of its copy 0
  // plus constants: the thread's row and chunk are divided out once, and
  // every address is the first one plus a constant offset (which
  // sqa-cp-async-l2-prefetch turns into immediate offsets from one pointer).
  bool passesAreWholeLines = copy.numThreads % lineChunks == 0 &&
                             tileLineChunks % copy.numThreads == 0;
  Value threadRow, threadCol;
  if (passesAreWholeLines) {
    threadRow = arith::DivUIOp::create(b, loc, copy.thread, index(lineChunks));
    threadCol = arith::RemUIOp::create(b, loc, copy.thread, index(lineChunks));
  }
  for (int64_t i = 0, e = llvm::divideCeil(numChunks, copy.numThreads); i < e;
       ++i) {
    Value row, col;
    if (passesAreWholeLines) {
      // Chunk thread + numThreads i is in line i / passesPerLine, at row
      // threadRow + (numThreads / lineChunks) (i % passesPerLine).
      int64_t passesPerLine = tileLineChunks / copy.numThreads;
      row = addOffset(b, loc, threadRow,
                      copy.numThreads / lineChunks * (i % passesPerLine));
      col = arith::MulIOp::create(
          b, loc, addOffset(b, loc, threadCol, i / passesPerLine * lineChunks),
          index(kChunkElements));
    } else {
      Value chunk = copy.thread;
      if (i)
        chunk =
            arith::AddIOp::create(b, loc, chunk, index(i * copy.numThreads));
      if (numChunks % copy.numThreads != 0)
        chunk = arith::RemUIOp::create(b, loc, chunk, index(numChunks));
      Value line = arith::DivUIOp::create(b, loc, chunk, index(tileLineChunks));
      Value inLine =
          arith::RemUIOp::create(b, loc, chunk, index(tileLineChunks));
      row = arith::DivUIOp::create(b, loc, inLine, index(lineChunks));
      col = arith::MulIOp::create(
          b, loc,
          arith::AddIOp::create(
              b, loc, arith::MulIOp::create(b, loc, line, index(lineChunks)),
              arith::RemUIOp::create(b, loc, inLine, index(lineChunks))),
          index(kChunkElements));
    }
    Value sourceRow = arith::AddIOp::create(b, loc, copy.rowStart, row);
    Value sourceElements;
    if (!copy.wholeRows) {
      Value inBounds = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::ult, sourceRow, copy.seqLen);
      // Rows past the end are not read (source size 0: cp.async
      // zero-fills), but their address must still be inside the buffer.
      sourceRow = arith::MinUIOp::create(b, loc, sourceRow, lastRow);
      sourceElements = arith::SelectOp::create(
          b, loc, inBounds, index(kChunkElements), index(0));
    }
    SmallVector<Value> dstIndices;
    if (copy.stage)
      dstIndices.push_back(*copy.stage);
    dstIndices.append({row, col});
    tokens.push_back(nvgpu::DeviceAsyncCopyOp::create(
        b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), copy.tile,
        dstIndices, copy.source,
        ValueRange{copy.batch, copy.head, sourceRow, col},
        b.getIndexAttr(kChunkElements), sourceElements, b.getUnitAttr()));
  }
  return tokens;
}

Value WarpTensorCoreBuilder::buildLoadMatrixX4(Value tile,
                                               std::optional<Value> stage,
                                               Value row, Value col,
                                               bool transpose) {
  SmallVector<Value> indices;
  if (stage)
    indices.push_back(*stage);
  indices.append({row, col});
  return nvgpu::LdMatrixOp::create(b, loc, getAType(), tile, indices, transpose,
                                   /*numTiles=*/4);
}

Value WarpTensorCoreBuilder::buildBOperand(Value x4, int64_t half) {
  return vector::ExtractStridedSliceOp::create(
      b, loc, x4, ArrayRef<int64_t>{2 * half, 0}, ArrayRef<int64_t>{2, 2},
      ArrayRef<int64_t>{1, 1});
}

Value WarpTensorCoreBuilder::buildMma(Value a, Value bOperand, Value c) {
  if (elementType.isF16())
    return nvgpu::MmaSyncOp::create(b, loc, a, bOperand, c,
                                    b.getI64ArrayAttr({kMmaM, kMmaN, kMmaK}));
  // bf16: nvgpu.mma.sync's lowering to NVVM does not handle bf16 operands in
  // MLIR 22, so the product is nvvm.mma.sync on the registers as i32 pairs.
  // This can go when convert-nvgpu-to-nvvm accepts bf16.
  Type i32 = b.getI32Type();
  Type f32 = b.getF32Type();
  auto registers = [&](Value fragment, int64_t count) {
    SmallVector<Value> regs;
    for (int64_t i = 0; i < count; ++i) {
      Value pair = vector::ExtractOp::create(b, loc, fragment, i);
      regs.push_back(LLVM::BitcastOp::create(b, loc, i32, pair));
    }
    return regs;
  };
  SmallVector<Value> accumulators;
  for (int64_t i = 0; i < 4; ++i)
    accumulators.push_back(
        vector::ExtractOp::create(b, loc, c, ArrayRef<int64_t>{i / 2, i % 2}));
  auto resultType = LLVM::LLVMStructType::getLiteral(b.getContext(),
                                                     SmallVector<Type>(4, f32));
  Value result = NVVM::MmaOp::create(
      b, loc, resultType, registers(a, 4), registers(bOperand, 2), accumulators,
      ArrayRef<int64_t>{kMmaM, kMmaN, kMmaK}, std::nullopt, std::nullopt,
      std::array<NVVM::MMATypes, 2>{NVVM::MMATypes::bf16, NVVM::MMATypes::bf16},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  SmallVector<Value> elements;
  for (int64_t i = 0; i < 4; ++i)
    elements.push_back(LLVM::ExtractValueOp::create(b, loc, result, i));
  return vector::FromElementsOp::create(b, loc, c.getType(), elements);
}

Value WarpTensorCoreBuilder::buildAccumulatorsAsA(Value low, Value high) {
  VectorType fragmentType = getBType();
  Value zeroA = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(getAType(), b.getZeroAttr(elementType)));
  // Rows 0-1 of A are (g, g + 8) at columns 2t + c, rows 2-3 the same at
  // 8 + 2t + c: the rows of `low`, then those of `high`.
  Value a = vector::InsertStridedSliceOp::create(
      b, loc, arith::TruncFOp::create(b, loc, fragmentType, low), zeroA,
      ArrayRef<int64_t>{0, 0}, ArrayRef<int64_t>{1, 1});
  return vector::InsertStridedSliceOp::create(
      b, loc, arith::TruncFOp::create(b, loc, fragmentType, high), a,
      ArrayRef<int64_t>{2, 0}, ArrayRef<int64_t>{1, 1});
}

Value WarpTensorCoreBuilder::buildRowReduction(ArrayRef<Value> tiles,
                                               int64_t row, RowReduction kind) {
  bool isMax = kind == RowReduction::Max;
  Value acc;
  for (Value tile : tiles) {
    Value rowValues = vector::ExtractOp::create(b, loc, tile, row);
    acc =
        acc ? (isMax
                   ? arith::MaxNumFOp::create(b, loc, acc, rowValues)
                         .getResult()
                   : arith::AddFOp::create(b, loc, acc, rowValues).getResult())
            : rowValues;
  }
  return vector::ReductionOp::create(
      b, loc,
      isMax ? vector::CombiningKind::MAXNUMF : vector::CombiningKind::ADD, acc);
}

Value WarpTensorCoreBuilder::buildQuadReduction(Value value,
                                                RowReduction kind) {
  for (int32_t offset : {1, 2}) {
    Value other = gpu::ShuffleOp::create(b, loc, value, offset, kThreadsPerWarp,
                                         gpu::ShuffleMode::XOR)
                      .getShuffleResult();
    value = kind == RowReduction::Max
                ? arith::MaxNumFOp::create(b, loc, value, other).getResult()
                : arith::AddFOp::create(b, loc, value, other).getResult();
  }
  return value;
}

Value WarpTensorCoreBuilder::buildRowPair(Value row0, Value row1) {
  return vector::FromElementsOp::create(b, loc, getAccumulatorType(),
                                        ValueRange{row0, row0, row1, row1});
}

WarpTensorCoreBuilder::LaneAddressing
WarpTensorCoreBuilder::buildLaneAddressing(Value lane) {
  auto div = [&](Value x, int64_t y) {
    return arith::DivUIOp::create(b, loc, x, index(y)).getResult();
  };
  auto rem = [&](Value x, int64_t y) {
    return arith::RemUIOp::create(b, loc, x, index(y)).getResult();
  };
  auto mul = [&](Value x, int64_t y) {
    return arith::MulIOp::create(b, loc, x, index(y)).getResult();
  };
  LaneAddressing lanes;
  lanes.rowOfA = rem(lane, kMmaK);
  lanes.colOfA = mul(div(lane, kMmaK), kChunkElements);
  lanes.rowOfB = arith::AddIOp::create(b, loc,
                                       mul(div(lane, 2 * kMmaN), kChunkElements),
                                       rem(lane, kMmaN));
  lanes.colOfB = mul(rem(div(lane, kMmaN), 2), kChunkElements);
  return lanes;
}

SmallVector<Value> WarpTensorCoreBuilder::buildLoadRowFragments(
    const SharedOperand &tile, const LaneAddressing &lanes, int64_t kSteps) {
  Value row = arith::AddIOp::create(b, loc, tile.firstRow, lanes.rowOfA);
  SmallVector<Value> fragments;
  if (kSteps < 0)
    kSteps = tile.width / kMmaK;
  for (int64_t k = 0; k < kSteps; ++k)
    fragments.push_back(buildLoadMatrixX4(
        tile.tile, tile.stage, row, addOffset(b, loc, lanes.colOfA, k * kMmaK),
        /*transpose=*/false));
  return fragments;
}

void WarpTensorCoreBuilder::buildProductWithTransposed(
    function_ref<Value(int64_t, int64_t)> loadA, int64_t kSteps,
    const SharedOperand &tile, const LaneAddressing &lanes,
    MutableArrayRef<Value> acc, int64_t rowTiles) {
  int64_t nTiles = acc.size() / rowTiles;
  assert(nTiles * rowTiles == static_cast<int64_t>(acc.size()) &&
         nTiles % 2 == 0 && "n-tiles come in pairs, for every row tile");
  assert(kSteps * kMmaK == tile.width && "one A fragment per 16 columns of B");
  Value row = arith::AddIOp::create(b, loc, tile.firstRow, lanes.rowOfB);
  for (int64_t k = 0; k < kSteps; ++k) {
    SmallVector<Value> a;
    for (int64_t m = 0; m < rowTiles; ++m)
      a.push_back(loadA(m, k));
    for (int64_t n = 0; n < nTiles; n += 2) {
      Value x4 = buildLoadMatrixX4(
          tile.tile, tile.stage, addOffset(b, loc, row, n * kMmaN),
          addOffset(b, loc, lanes.colOfB, k * kMmaK), /*transpose=*/false);
      for (int64_t m = 0; m < rowTiles; ++m) {
        Value &low = acc[m * nTiles + n], &high = acc[m * nTiles + n + 1];
        low = buildMma(a[m], buildBOperand(x4, 0), low);
        high = buildMma(a[m], buildBOperand(x4, 1), high);
      }
    }
  }
}

void WarpTensorCoreBuilder::buildProductWithTransposed(
    ArrayRef<Value> a, const SharedOperand &tile, const LaneAddressing &lanes,
    MutableArrayRef<Value> acc, int64_t rowTiles) {
  int64_t kSteps = a.size() / rowTiles;
  assert(kSteps * rowTiles == static_cast<int64_t>(a.size()) &&
         "the same fragments for every row tile");
  buildProductWithTransposed(
      [&](int64_t m, int64_t k) { return a[m * kSteps + k]; }, kSteps, tile,
      lanes, acc, rowTiles);
}

void WarpTensorCoreBuilder::buildProductWithTransposed(
    const SharedOperand &a, const SharedOperand &tile,
    const LaneAddressing &lanes, MutableArrayRef<Value> acc, int64_t rowTiles,
    ArrayRef<Value> heldA) {
  assert(a.width == tile.width && "A and B share their k extent");
  int64_t heldSteps = heldA.size() / rowTiles;
  assert(heldSteps * rowTiles == static_cast<int64_t>(heldA.size()) &&
         heldSteps <= a.width / kMmaK &&
         "the same held k-steps for every row tile");
  Value row = arith::AddIOp::create(b, loc, a.firstRow, lanes.rowOfA);
  buildProductWithTransposed(
      [&](int64_t m, int64_t k) {
        if (k < heldSteps)
          return heldA[m * heldSteps + k];
        return buildLoadMatrixX4(
            a.tile, a.stage, addOffset(b, loc, row, m * kMmaM),
            addOffset(b, loc, lanes.colOfA, k * kMmaK), /*transpose=*/false);
      },
      a.width / kMmaK, tile, lanes, acc, rowTiles);
}

SmallVector<Value>
WarpTensorCoreBuilder::buildAccumulatorsAsAFragments(ArrayRef<Value> p) {
  assert(p.size() % 2 == 0 && "two accumulators per k-step");
  SmallVector<Value> a;
  for (int64_t i = 0; i < static_cast<int64_t>(p.size()); i += 2)
    a.push_back(buildAccumulatorsAsA(p[i], p[i + 1]));
  return a;
}

void WarpTensorCoreBuilder::buildProductFromFragments(
    ArrayRef<Value> a, const SharedOperand &tile, const LaneAddressing &lanes,
    MutableArrayRef<Value> acc, int64_t rowTiles) {
  int64_t nTiles = acc.size() / rowTiles;
  int64_t kSteps = a.size() / rowTiles;
  assert(kSteps * rowTiles == static_cast<int64_t>(a.size()) &&
         "one A fragment per k-step and row tile");
  assert(nTiles * rowTiles == static_cast<int64_t>(acc.size()) &&
         nTiles * kMmaN == tile.width && nTiles % 2 == 0 &&
         "one accumulator per 8 columns of B and row tile");
  Value row = arith::AddIOp::create(b, loc, tile.firstRow, lanes.rowOfA);
  for (int64_t k = 0; k < kSteps; ++k) {
    for (int64_t n = 0; n < nTiles; n += 2) {
      Value x4 = buildLoadMatrixX4(
          tile.tile, tile.stage, addOffset(b, loc, row, k * kMmaK),
          addOffset(b, loc, lanes.colOfA, n * kMmaN), /*transpose=*/true);
      for (int64_t m = 0; m < rowTiles; ++m) {
        Value fragment = a[m * kSteps + k];
        Value &low = acc[m * nTiles + n], &high = acc[m * nTiles + n + 1];
        low = buildMma(fragment, buildBOperand(x4, 0), low);
        high = buildMma(fragment, buildBOperand(x4, 1), high);
      }
    }
  }
}

void WarpTensorCoreBuilder::buildProductFromAccumulators(
    ArrayRef<Value> p, const SharedOperand &tile, const LaneAddressing &lanes,
    MutableArrayRef<Value> acc, int64_t rowTiles) {
  buildProductFromFragments(buildAccumulatorsAsAFragments(p), tile, lanes, acc,
                            rowTiles);
}
