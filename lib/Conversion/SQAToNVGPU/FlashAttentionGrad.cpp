//===- FlashAttentionGrad.cpp - FlashAttention-2 backward tensor-core kernels =//
//
// Lowers buffer-semantics sqa.attention_grad to FlashAttention-2's backward
// (Dao, 2023, Algorithm 2) for sm_80 in two kernels built from the same
// warp-level toolkit as the forward (sqa/GPU/WarpTensorCore.h):
//
//   dK/dV  one block per (kv-block, key/value head, batch); warp w owns keys
//          [16 w, 16 w + 16) of the block and holds their dK and dV in f32
//          registers over every output head that reads the key/value head
//          (the G query heads of a group) and every q-block that sees a key
//          of the block (buildQueryBlockRange), the Q and dO tiles streamed
//          through two shared stages:
//            Sᵀ = K Qᵀ, Pᵀ = exp2(Sᵀ c - lse log2 e), dV += Pᵀ dO,
//            dPᵀ = V dOᵀ, dSᵀ = Pᵀ (dPᵀ - Dsum), dK += dSᵀ Q.
//   dQ     one block per (q-block, query head, batch); warp w owns 16 query
//          rows and holds their dQ in registers over every output head that
//          reads the query head (reverse SQA: Hkv / Hq of them) and the
//          kv-blocks of the forward's schedule, K and V streamed as in the
//          forward:
//            S = Q Kᵀ, P = exp2(S c - lse log2 e), dP = dO Vᵀ,
//            dS = P (dP - Dsum), dQ += dS K.
//
// Every product is one of the toolkit's two shapes, with the accumulators Pᵀ,
// dSᵀ, dS reused as A operands in registers, so no score tile goes through
// shared memory; dQ needs no atomics, and each gradient is summed in a fixed
// order, so the results are identical run to run. Dsum = rowsum(dO ∘ O),
// FlashAttention's preprocess, is computed where it is used (no workspace):
// from dO's A fragments in the dQ kernel, by the block's threads into shared
// memory per q-block in the dK/dV kernel.
//
// A row past Sq, or with no visible key (lse = -inf), gets the shift +inf:
// its P is exp2(-inf) = 0, so it contributes nothing and never a NaN.
//
//===----------------------------------------------------------------------===//

#include "sqa/Conversion/SQAToNVGPU/SQAToNVGPU.h"

#include "FlashKernelCommon.h"

#include "sqa/Dialect/SQA/IR/SQAOps.h"
#include "sqa/Dialect/SQA/Utils/AttentionUtils.h"
#include "sqa/GPU/WarpTensorCore.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

#include <limits>

using namespace mlir;
using namespace mlir::sqa;

namespace {
/// Builds the bodies of the two backward kernels inside their gpu.launch
/// ops. Index arithmetic is plain arith on `index`; canonicalization folds
/// the constants.
class GradKernelBuilder : KernelArithmetic {
public:
  GradKernelBuilder(OpBuilder &b, Location loc, AttentionGradOp op,
                    const GradPlan &schedule,
                    gpu::LaunchOp launch, ValueRange shared, int64_t numWarps)
      : KernelArithmetic(b, loc), op(op), schedule(schedule), launch(launch),
        shared(shared),
        tc(b, loc, op.getQueryType().getElementType()), numWarps(numWarps),
        headDim(op.getHeadDim()), valueHeadDim(op.getValueHeadDim()),
        f32(b.getF32Type()), accType(tc.getAccumulatorType()),
        scaleLog2(op.getScaleLog2()) {}

  void buildKeyValueGrad();
  void buildQueryGrad();

private:

  /// The thread's ids; sets thread, lane, warp, group, threadInGroup, batch.
  void buildThreadIds();
  /// Issues the cp.async copies of a rows x width tile.
  SmallVector<Value> copyTile(Value source, Value head, Value rowStart,
                              Value seqLen, int64_t rows, int64_t width,
                              Value tile, std::optional<Value> stage) {
    return tc.buildTileCopy({source, batch, head, rowStart, seqLen, rows, width,
                             tile, stage, thread, numWarps * kThreadsPerWarp});
  }
  Value commitGroup(ArrayRef<Value> tokens) {
    return nvgpu::DeviceAsyncCreateGroupOp::create(
        b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), tokens);
  }
  void waitGroups(Value token, int32_t pending) {
    nvgpu::DeviceAsyncWaitOp::create(b, loc, token,
                                     b.getI32IntegerAttr(pending));
  }
  /// The shift lse * log2(e) of query row `row` of output head `head`: +inf
  /// for a row past Sq or without a visible key (lse = -inf), so that its
  /// probabilities are 0.
  Value buildRowShift(Value head, Value row, Value querySeqLen);
  /// exp2(s c - shift) for each element of `scores`, `shift` a tile-shaped
  /// vector.
  SmallVector<Value> buildProbabilities(ArrayRef<Value> scores,
                                        ArrayRef<Value> shifts);
  /// p (dp - dsum) for each tile.
  SmallVector<Value> buildScoreGrads(ArrayRef<Value> probs,
                                     ArrayRef<Value> probGrads,
                                     ArrayRef<Value> dsums);
  /// Stores `factor` * the accumulators `acc` of rows `row`, `row` + 8 into
  /// `dest`[batch, head, row, :], rows at or past `seqLen` left out.
  void buildStoreRows(ValueRange acc, Value dest, Value head, Value row,
                      Value seqLen, float factor);

  AttentionGradOp op;
  const GradPlan &schedule;
  gpu::LaunchOp launch;
  /// The kernel's shared buffers, in the order of its createKernelLaunch.
  ValueRange shared;
  WarpTensorCoreBuilder tc;
  int64_t numWarps, headDim, valueHeadDim;
  Type f32;
  VectorType accType;
  float scaleLog2;
  Value thread, lane, warp, group, threadInGroup, batch;
};
} // namespace

void GradKernelBuilder::buildThreadIds() {
  thread = launch.getThreadIds().x;
  warp = div(thread, kThreadsPerWarp);
  lane = rem(thread, kThreadsPerWarp);
  group = div(lane, 4);
  threadInGroup = rem(lane, 4);
  batch = launch.getBlockIds().z;
}

Value GradKernelBuilder::buildRowShift(Value head, Value row,
                                       Value querySeqLen) {
  const float inf = std::numeric_limits<float>::infinity();
  Value inRange = less(row, querySeqLen);
  Value lse = memref::LoadOp::create(
      b, loc, op.getLse(),
      ValueRange{batch, head, clampRow(row, querySeqLen)});
  Value seen = arith::AndIOp::create(
      b, loc, inRange,
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE, lse,
                            f32Const(-inf)));
  return arith::SelectOp::create(
      b, loc, seen,
      arith::MulFOp::create(b, loc, lse,
                            f32Const(llvm::numbers::log2ef)),
      f32Const(inf));
}

SmallVector<Value>
GradKernelBuilder::buildProbabilities(ArrayRef<Value> scores,
                                      ArrayRef<Value> shifts) {
  SmallVector<Value> probs;
  for (auto [tile, shift] : llvm::zip_equal(scores, shifts)) {
    SmallVector<Value> elements;
    for (int64_t i = 0; i < 4; ++i) {
      SmallVector<int64_t> position = {i / 2, i % 2};
      Value s = vector::ExtractOp::create(b, loc, tile, position);
      Value negShift = arith::NegFOp::create(
          b, loc, vector::ExtractOp::create(b, loc, shift, position));
      elements.push_back(math::Exp2Op::create(
          b, loc, math::FmaOp::create(b, loc, s, f32Const(scaleLog2), negShift)));
    }
    probs.push_back(vector::FromElementsOp::create(b, loc, accType, elements));
  }
  return probs;
}

SmallVector<Value>
GradKernelBuilder::buildScoreGrads(ArrayRef<Value> probs,
                                   ArrayRef<Value> probGrads,
                                   ArrayRef<Value> dsums) {
  SmallVector<Value> grads;
  for (auto [p, dp, dsum] : llvm::zip_equal(probs, probGrads, dsums))
    grads.push_back(arith::MulFOp::create(
        b, loc, p, arith::SubFOp::create(b, loc, dp, dsum)));
  return grads;
}

void GradKernelBuilder::buildStoreRows(ValueRange acc, Value dest,
                                       Value head, Value row, Value seqLen,
                                       float factor) {
  Type elementType = cast<MemRefType>(dest.getType()).getElementType();
  Value rows[2] = {row, add(row, kMmaM / 2)};
  for (int64_t r = 0; r < 2; ++r) {
    auto store =
        scf::IfOp::create(b, loc, less(rows[r], seqLen), /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(store.thenBlock()->getTerminator());
    for (auto [n, tile] : llvm::enumerate(acc)) {
      Value pair = vector::ExtractOp::create(b, loc, tile, r);
      if (factor != 1.0f)
        pair = arith::MulFOp::create(
            b, loc, pair,
            vector::BroadcastOp::create(b, loc, pair.getType(),
                                        f32Const(factor)));
      pair = buildTruncateFromF32(b, loc, pair, elementType);
      vector::StoreOp::create(
          b, loc, pair, dest,
          ValueRange{batch, head, rows[r],
                     add(mul(threadInGroup, 2), index(n * kMmaN))});
    }
  }
}

void GradKernelBuilder::buildKeyValueGrad() {
  int64_t keys = kMmaM * numWarps, queryBlock = schedule.queryBlock;
  Value sharedK = shared[0], sharedV = shared[1], sharedQ = shared[2],
        sharedDout = shared[3], sharedShift = shared[4], sharedDsum = shared[5];
  Value querySeqLen = memref::DimOp::create(b, loc, op.getQuery(), 2);
  Value keySeqLen = memref::DimOp::create(b, loc, op.getKey(), 2);
  buildThreadIds();
  Value kvHead = launch.getBlockIds().y;
  Value keyBlockIndex = launch.getBlockIds().x;
  Value keyStart = mul(keyBlockIndex, keys);
  Value warpKeys = mul(warp, kMmaM);
  WarpTensorCoreBuilder::LaneAddressing lanes = tc.buildLaneAddressing(lane);

  // The block's K and V, once.
  SmallVector<Value> kvTokens = copyTile(op.getKey(), kvHead, keyStart,
                                         keySeqLen, keys, headDim, sharedK,
                                         std::nullopt);
  llvm::append_range(kvTokens, copyTile(op.getValue(), kvHead, keyStart,
                                        keySeqLen, keys, valueHeadDim, sharedV,
                                        std::nullopt));
  Value kvGroup = commitGroup(kvTokens);
  waitGroups(kvGroup, 0);
  gpu::BarrierOp::create(b, loc);
  WarpTensorCoreBuilder::SharedOperand keyRows = {sharedK, std::nullopt,
                                                  warpKeys, headDim};
  WarpTensorCoreBuilder::SharedOperand valueRows = {sharedV, std::nullopt,
                                                    warpKeys, valueHeadDim};
  // The warp's K or V fragments: loaded once here, or at each step.
  SmallVector<Value> heldKeys, heldValues;
  if (schedule.holdKeyValueFragments) {
    heldKeys = tc.buildLoadRowFragments(keyRows, lanes);
    heldValues = tc.buildLoadRowFragments(valueRows, lanes);
  }
  auto rowFragments = [&](ArrayRef<Value> held,
                          const WarpTensorCoreBuilder::SharedOperand &rows) {
    return schedule.holdKeyValueFragments
               ? llvm::to_vector(held)
               : tc.buildLoadRowFragments(rows, lanes);
  };

  // Steps: (output head g of those that read kvHead, q-block of the range
  // that sees this kv-block).
  QueryBlockRange range = buildQueryBlockRange(
      b, loc, op, keyBlockIndex, queryBlock, keys, querySeqLen, keySeqLen);
  Value numRowBlocks = arith::SubIOp::create(b, loc, range.end, range.begin);
  int64_t headsPerKv = op.getNumOutputHeads() / op.getNumKvHeads();
  Value numSteps = mul(numRowBlocks, headsPerKv);
  struct Step {
    Value head, queryHead, rowStart;
  };
  auto getStep = [&](Value step) {
    Step s;
    s.head = buildOutputHeadReadingKvHead(b, loc, op, kvHead,
                                          div(step, numRowBlocks));
    s.queryHead = buildHeadsRead(b, loc, op, s.head).queryHead;
    s.rowStart =
        mul(add(range.begin, rem(step, numRowBlocks)), index(queryBlock));
    return s;
  };
  auto copyRows = [&](Value step, Value stage) {
    Step s = getStep(step);
    SmallVector<Value> tokens =
        copyTile(op.getQuery(), s.queryHead, s.rowStart, querySeqLen,
                 queryBlock, headDim, sharedQ, stage);
    llvm::append_range(tokens, copyTile(op.getDout(), s.head, s.rowStart,
                                        querySeqLen, queryBlock, valueHeadDim,
                                        sharedDout, stage));
    return commitGroup(tokens);
  };
  {
    auto ifOp = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, numSteps,
                              index(0)),
        /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    copyRows(index(0), index(0));
  }

  Value zeroAcc = tc.buildZeroAccumulator();
  int64_t numKeyTiles = headDim / kMmaN, numValueTiles = valueHeadDim / kMmaN;
  int64_t numScoreTiles = queryBlock / kMmaN;
  SmallVector<Value> inits(numKeyTiles + numValueTiles, zeroAcc);
  auto loop = scf::ForOp::create(b, loc, index(0), numSteps, index(1), inits);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value step = loop.getInductionVar();
    SmallVector<Value> keyGrad(loop.getRegionIterArgs().take_front(numKeyTiles));
    SmallVector<Value> valueGrad(
        loop.getRegionIterArgs().drop_front(numKeyTiles));
    Value stage = rem(step, 2);
    Step current = getStep(step);

    // Prefetch the next step's Q and dO into the other stage.
    Value next = add(step, 1);
    {
      auto ifOp = scf::IfOp::create(b, loc, less(next, numSteps),
                                    /*withElseRegion=*/true);
      OpBuilder::InsertionGuard ifGuard(b);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      waitGroups(
          copyRows(next, arith::SubIOp::create(b, loc, index(1), stage)), 1);
      b.setInsertionPoint(ifOp.elseBlock()->getTerminator());
      waitGroups(kvGroup, 0);
    }

    // Row statistics of the q-block, one row per thread: the shift and
    // Dsum = dO . O (FlashAttention's preprocess, where it is used).
    int64_t numThreads = numWarps * kThreadsPerWarp;
    for (int64_t pass = 0,
                 passes = llvm::divideCeil(queryBlock, numThreads);
         pass < passes;
         ++pass) {
      Value local = add(thread, pass * numThreads);
      auto ifOp =
          scf::IfOp::create(b, loc, less(local, index(queryBlock)), false);
      OpBuilder::InsertionGuard ifGuard(b);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      Value row = add(current.rowStart, local);
      memref::StoreOp::create(b, loc,
                              buildRowShift(current.head, row, querySeqLen),
                              sharedShift, local);
      Value clamped = clampRow(row, querySeqLen);
      Type chunkType =
          VectorType::get({kChunkElements}, op.getQueryType().getElementType());
      Value sum;
      for (int64_t c = 0; c < valueHeadDim; c += kChunkElements) {
        SmallVector<Value> indices = {batch, current.head, clamped, index(c)};
        Value product = arith::MulFOp::create(
            b, loc,
            buildExtendToF32(b, loc,
                             vector::LoadOp::create(b, loc, chunkType,
                                                    op.getDout(), indices)),
            buildExtendToF32(b, loc,
                             vector::LoadOp::create(b, loc, chunkType,
                                                    op.getOut(), indices)));
        sum = sum ? arith::AddFOp::create(b, loc, sum, product).getResult()
                  : product;
      }
      Value dsum = vector::ReductionOp::create(
          b, loc, vector::CombiningKind::ADD, sum);
      dsum = arith::SelectOp::create(b, loc, less(row, querySeqLen), dsum,
                                     f32Const(0.0f));
      memref::StoreOp::create(b, loc, dsum, sharedDsum, local);
    }
    gpu::BarrierOp::create(b, loc);

    // Sᵀ = K Qᵀ: this warp's 16 keys against the block's query rows.
    SmallVector<Value> scores(numScoreTiles, zeroAcc);
    tc.buildProductWithTransposed(rowFragments(heldKeys, keyRows),
                                  {sharedQ, stage, index(0), headDim}, lanes,
                                  scores);
    KeyBlockSchedule rowSchedule =
        buildKeyBlockSchedule(b, loc, op, current.rowStart, queryBlock, keys,
                              querySeqLen, keySeqLen);
    scores = buildMaskedTransposedScores(
        b, loc, op, scores,
        buildKeyBlockIsFullyVisible(b, loc, rowSchedule, toI32(keyStart), keys),
        add(add(keyStart, warpKeys), group),
        add(current.rowStart, mul(threadInGroup, 2)), querySeqLen, keySeqLen);

    // The shift and Dsum of this thread's columns 8 n + 2 t + {0, 1}, the
    // same in both rows of a tile.
    auto columnValues = [&](Value source) {
      SmallVector<Value> tiles;
      // Scalar loads: vector loads from workgroup memory would reach
      // convert-vector-to-llvm before the GPU address spaces are mapped.
      for (int64_t n = 0; n < numScoreTiles; ++n) {
        Value column = add(mul(threadInGroup, 2), index(n * kMmaN));
        Value first = memref::LoadOp::create(b, loc, source, column);
        Value second = memref::LoadOp::create(b, loc, source, add(column, 1));
        tiles.push_back(vector::FromElementsOp::create(
            b, loc, accType, ValueRange{first, second, first, second}));
      }
      return tiles;
    };
    SmallVector<Value> probs =
        buildProbabilities(scores, columnValues(sharedShift));
    // dV += Pᵀ dO.
    tc.buildProductFromAccumulators(
        probs, {sharedDout, stage, index(0), valueHeadDim}, lanes, valueGrad);
    // dPᵀ = V dOᵀ, dSᵀ = Pᵀ (dPᵀ - Dsum), dK += dSᵀ Q.
    SmallVector<Value> probGrads(numScoreTiles, zeroAcc);
    tc.buildProductWithTransposed(rowFragments(heldValues, valueRows),
                                  {sharedDout, stage, index(0), valueHeadDim},
                                  lanes, probGrads);
    SmallVector<Value> scoreGrads =
        buildScoreGrads(probs, probGrads, columnValues(sharedDsum));
    tc.buildProductFromAccumulators(
        scoreGrads, {sharedQ, stage, index(0), headDim}, lanes, keyGrad);
    // The next step's prefetch and row statistics overwrite what was read.
    gpu::BarrierOp::create(b, loc);
    SmallVector<Value> yields(keyGrad);
    yields.append(valueGrad);
    scf::YieldOp::create(b, loc, yields);
  }

  Value row = add(add(keyStart, warpKeys), group);
  ValueRange results = loop.getResults();
  buildStoreRows(results.take_front(numKeyTiles), op.getKeyGrad(), kvHead, row,
                 keySeqLen, op.getScaleOrDefault());
  buildStoreRows(results.drop_front(numKeyTiles), op.getValueGrad(), kvHead,
                 row, keySeqLen, 1.0f);
}

void GradKernelBuilder::buildQueryGrad() {
  int64_t rows = kMmaM * numWarps, keyBlock = schedule.keyBlock;
  Value sharedRows = shared[0], sharedK = shared[1], sharedV = shared[2];
  Value querySeqLen = memref::DimOp::create(b, loc, op.getQuery(), 2);
  Value keySeqLen = memref::DimOp::create(b, loc, op.getKey(), 2);
  buildThreadIds();
  Value queryHead = launch.getBlockIds().y;
  Value firstRow = mul(launch.getBlockIds().x, rows);
  Value warpRows = mul(warp, kMmaM);
  Value rowA = add(add(firstRow, warpRows), group);
  Value rowB = add(rowA, kMmaM / 2);
  QueryRowKeys rowKeys =
      buildQueryRowKeys(b, loc, op, rowA, querySeqLen, keySeqLen);
  WarpTensorCoreBuilder::LaneAddressing lanes = tc.buildLaneAddressing(lane);
  KeyBlockSchedule keySchedule = buildKeyBlockSchedule(
      b, loc, op, firstRow, rows, keyBlock, querySeqLen, keySeqLen);
  Value blockBegin = keySchedule.begin, blockEnd = keySchedule.end;

  // Q fragments, through the row tile that each head's dO reuses.
  waitGroups(commitGroup(copyTile(op.getQuery(), queryHead, firstRow,
                                  querySeqLen, rows, headDim, sharedRows,
                                  std::nullopt)),
             0);
  gpu::BarrierOp::create(b, loc);
  SmallVector<Value> queryFragments = tc.buildLoadRowFragments(
      {sharedRows, std::nullopt, warpRows, headDim}, lanes);
  gpu::BarrierOp::create(b, loc);

  auto copyKeyValueBlock = [&](Value kvHead, Value block, Value stage) {
    Value start = mul(block, keyBlock);
    SmallVector<Value> tokens = copyTile(op.getKey(), kvHead, start, keySeqLen,
                                         keyBlock, headDim, sharedK, stage);
    llvm::append_range(tokens,
                       copyTile(op.getValue(), kvHead, start, keySeqLen,
                                keyBlock, valueHeadDim, sharedV, stage));
    return commitGroup(tokens);
  };

  // The output heads r Hq + queryHead that read the query head.
  int64_t numQueryHeads = op.getNumQueryHeads();
  int64_t headsPerQuery = op.getNumOutputHeads() / numQueryHeads;
  Value zeroAcc = tc.buildZeroAccumulator();
  int64_t numQueryTiles = headDim / kMmaN, numScoreTiles = keyBlock / kMmaN;
  SmallVector<Value> inits(numQueryTiles, zeroAcc);
  auto headLoop =
      scf::ForOp::create(b, loc, index(0), index(headsPerQuery), index(1), inits);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(headLoop.getBody());
    Value head = buildOutputHeadReadingQueryHead(b, loc, op, queryHead,
                                                 headLoop.getInductionVar());
    Value kvHead = buildHeadsRead(b, loc, op, head).kvHead;

    // dO fragments of the head, and the first K/V stage.
    Value doutGroup =
        commitGroup(copyTile(op.getDout(), head, firstRow, querySeqLen, rows,
                             valueHeadDim, sharedRows, std::nullopt));
    waitGroups(doutGroup, 0);
    gpu::BarrierOp::create(b, loc);
    SmallVector<Value> doutFragments = tc.buildLoadRowFragments(
        {sharedRows, std::nullopt, warpRows, valueHeadDim}, lanes);
    gpu::BarrierOp::create(b, loc);
    {
      auto ifOp = scf::IfOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, blockBegin,
                                blockEnd),
          /*withElseRegion=*/false);
      OpBuilder::InsertionGuard ifGuard(b);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      copyKeyValueBlock(kvHead, blockBegin, index(0));
    }

    // Dsum = dO . O for rows g and g + 8: element i of an A fragment is at
    // row g + 8 (i % 2), columns 2t + 8 (i / 2) + {0, 1} of its k-step; the
    // quad's four lanes cover the row.
    Value rowsOfThread[2] = {rowA, rowB}, clampedRows[2];
    for (int64_t r = 0; r < 2; ++r)
      clampedRows[r] = clampRow(rowsOfThread[r], querySeqLen);
    Type pairType =
        VectorType::get({2}, op.getQueryType().getElementType());
    Value partial[2];
    for (auto [k, fragment] : llvm::enumerate(doutFragments)) {
      for (int64_t i = 0; i < 4; ++i) {
        Value column = add(mul(threadInGroup, 2),
                           index(k * kMmaK + (i / 2) * kMmaN));
        Value out = vector::LoadOp::create(
            b, loc, pairType, op.getOut(),
            ValueRange{batch, head, clampedRows[i % 2], column});
        Value product = arith::MulFOp::create(
            b, loc,
            buildExtendToF32(b, loc, vector::ExtractOp::create(b, loc, fragment, i)),
            buildExtendToF32(b, loc, out));
        Value &acc = partial[i % 2];
        acc = acc ? arith::AddFOp::create(b, loc, acc, product).getResult()
                  : product;
      }
    }
    Value dsums[2], shifts[2];
    for (int64_t r = 0; r < 2; ++r) {
      dsums[r] = tc.buildQuadReduction(
          vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                      partial[r]),
          RowReduction::Sum);
      shifts[r] = buildRowShift(head, rowsOfThread[r], querySeqLen);
    }
    Value dsumTile = tc.buildRowPair(dsums[0], dsums[1]);
    Value shiftTile = tc.buildRowPair(shifts[0], shifts[1]);

    auto loop = scf::ForOp::create(b, loc, blockBegin, blockEnd, index(1),
                                   headLoop.getRegionIterArgs());
    {
      OpBuilder::InsertionGuard loopGuard(b);
      b.setInsertionPointToStart(loop.getBody());
      Value block = loop.getInductionVar();
      SmallVector<Value> queryGrad(loop.getRegionIterArgs());
      Value stage = rem(arith::SubIOp::create(b, loc, block, blockBegin), 2);
      Value next = add(block, 1);
      {
        auto ifOp = scf::IfOp::create(b, loc, less(next, blockEnd),
                                      /*withElseRegion=*/true);
        OpBuilder::InsertionGuard ifGuard(b);
        b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
        waitGroups(copyKeyValueBlock(
                       kvHead, next,
                       arith::SubIOp::create(b, loc, index(1), stage)),
                   1);
        b.setInsertionPoint(ifOp.elseBlock()->getTerminator());
        waitGroups(doutGroup, 0);
      }
      gpu::BarrierOp::create(b, loc);

      // S = Q Kᵀ, masked where the block is partly visible.
      SmallVector<Value> scores(numScoreTiles, zeroAcc);
      tc.buildProductWithTransposed(queryFragments,
                                    {sharedK, stage, index(0), headDim}, lanes,
                                    scores);
      Value blockStart = mul(block, keyBlock);
      scores = buildMaskedScores(
          b, loc, scores,
          buildKeyBlockIsFullyVisible(b, loc, keySchedule, toI32(blockStart),
                                      keyBlock),
          rowKeys, add(blockStart, mul(threadInGroup, 2)));

      SmallVector<Value> probs = buildProbabilities(
          scores, SmallVector<Value>(numScoreTiles, shiftTile));
      // dP = dO Vᵀ, dS = P (dP - Dsum), dQ += dS K.
      SmallVector<Value> probGrads(numScoreTiles, zeroAcc);
      tc.buildProductWithTransposed(doutFragments,
                                    {sharedV, stage, index(0), valueHeadDim},
                                    lanes, probGrads);
      SmallVector<Value> scoreGrads = buildScoreGrads(
          probs, probGrads, SmallVector<Value>(numScoreTiles, dsumTile));
      tc.buildProductFromAccumulators(
          scoreGrads, {sharedK, stage, index(0), headDim}, lanes, queryGrad);
      // The next iteration's prefetch overwrites the stage read here.
      gpu::BarrierOp::create(b, loc);
      scf::YieldOp::create(b, loc, queryGrad);
    }
    scf::YieldOp::create(b, loc, loop.getResults());
  }
  buildStoreRows(headLoop.getResults(), op.getQueryGrad(),
                 queryHead, rowA, querySeqLen, op.getScaleOrDefault());
}

/// Replaces `op` by the gpu.launch ops of the dK/dV and the dQ kernels.
static void lowerToTensorCoreKernels(RewriterBase &rewriter, AttentionGradOp op,
                                     const TensorCoreKernelOptions &options) {
  Location loc = op.getLoc();
  GradPlan schedule = getGradPlan(op, options);
  // dK, dV: grid (kv-blocks, key/value heads, batch).
  int64_t keys = kMmaM * schedule.keyWarps;
  createKernelLaunch(rewriter, op, op.getKey(), keys, op.getNumKvHeads(),
                     schedule.keyWarps, schedule.keyValueTiles,
                     [&](gpu::LaunchOp launch, ValueRange shared) {
                       GradKernelBuilder(rewriter, loc, op, schedule, launch,
                                         shared, schedule.keyWarps)
                           .buildKeyValueGrad();
                     });
  // dQ: grid (q-blocks, query heads, batch).
  int64_t rows = kMmaM * schedule.queryWarps;
  createKernelLaunch(rewriter, op, op.getQuery(), rows, op.getNumQueryHeads(),
                     schedule.queryWarps, schedule.queryTiles,
                     [&](gpu::LaunchOp launch, ValueRange shared) {
                       GradKernelBuilder(rewriter, loc, op, schedule, launch,
                                         shared, schedule.queryWarps)
                           .buildQueryGrad();
                     });
  rewriter.eraseOp(op);
}


void mlir::sqa::populateAttentionGradToNVGPUPatterns(
    RewritePatternSet &patterns, const TensorCoreKernelOptions &options) {
  patterns.add<
      TensorCoreKernelPattern<AttentionGradOp, lowerToTensorCoreKernels>>(
      patterns.getContext(), options);
}
