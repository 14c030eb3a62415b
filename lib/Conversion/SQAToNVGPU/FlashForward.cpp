//===- FlashForward.cpp - The FlashAttention-2 forward, step by step ------===//

#include "FlashForward.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using namespace mlir::sqa;

/// Builds `body` in the then-region of an scf.if on `condition` without
/// results.
static void buildIf(OpBuilder &b, Location loc, Value condition,
                    function_ref<void()> body) {
  auto ifOp = scf::IfOp::create(b, loc, condition, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
  body();
}

void FlashForwardKernel::build() {
  const float negInf = -std::numeric_limits<float>::infinity();
  querySeqLen = memref::DimOp::create(b, loc, op.getQuery(), 2);
  keySeqLen = memref::DimOp::create(b, loc, op.getKey(), 2);
  buildThreadIds();
  batch = launch.getBlockIds().z;
  head = launch.getBlockIds().y;
  std::tie(queryHead, kvHead) = [&] {
    HeadsRead heads = buildHeadsRead(b, loc, op, head);
    return std::make_pair(heads.queryHead, heads.kvHead);
  }();
  firstRow = mul(launch.getBlockIds().x, plan.blockRows);
  KeyBlockSchedule schedule =
      buildKeyBlockSchedule(b, loc, op, firstRow, plan.blockRows,
                            plan.keyBlock, querySeqLen, keySeqLen);
  Value blockBegin = schedule.begin, blockEnd = schedule.end;
  buildRows();

  // Prologue: Q, then K and V of the last block, which alone may need
  // zero-fill.
  copyQueryTile();
  Value hasBlocks = less(blockBegin, blockEnd);
  Value lastBlock = sub(blockEnd, 1);
  buildIf(b, loc, hasBlocks, [&] {
    copyKeyBlock(lastBlock, /*wholeRows=*/false);
    copyValueBlock(lastBlock, /*wholeRows=*/false);
  });
  buildLoopInvariants();

  OnlineSoftmax softmax(op.getScaleLog2(), /*subtractFirst=*/false,
                        plan.referenceTrail);
  Value zeroAcc = buildZeroAccumulator();
  int64_t numRows = getNumRows(), rowsPerGroup = getRowsPerGroup(),
          numGroups = getNumRowGroups();
  int64_t scoreTiles = getScoreTilesPerGroup(),
          accTiles = getAccumulatorTilesPerGroup();

  // Loop state: each row's softmax reference (exp2 units) and sum, then
  // the output accumulators.
  SmallVector<Value> inits(numRows, f32Const(negInf));
  inits.append(numRows, f32Const(0.0f));
  inits.append(numGroups * accTiles, zeroAcc);
  // Blocks last to first: step i visits block lastBlock - i.
  auto loop = scf::ForOp::create(b, loc, index(0), sub(blockEnd, blockBegin),
                                 index(1), inits);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value block = sub(lastBlock, loop.getInductionVar());
    ValueRange state = loop.getRegionIterArgs();
    SmallVector<Value> references(state.take_front(numRows));
    SmallVector<Value> sums(state.slice(numRows, numRows));
    SmallVector<Value> acc(state.drop_front(2 * numRows));

    // K of this block (and Q) has landed, and every thread is past the
    // previous block's P V: V can be overwritten while S is computed (the
    // last block's V came with the prologue).
    waitForCopies();
    buildIf(b, loc, less(block, lastBlock),
            [&] { copyValueBlock(block, /*wholeRows=*/true); });

    SmallVector<Value> scores = buildScores();
    // Blocks inside every row's visible range skip the mask.
    Value blockStart = mul(block, plan.keyBlock);
    maskScores(scores, blockStart,
               buildKeyBlockIsFullyVisible(b, loc, schedule,
                                           toI32(blockStart), plan.keyBlock));

    // V of this block has landed, and every thread is past S = Q Kᵀ: K of
    // the next block can be copied while the softmax and P V run.
    waitForCopies();
    buildIf(b, loc, less(blockBegin, block),
            [&] { copyKeyBlock(sub(block, 1), /*wholeRows=*/true); });

    // The online softmax (OnlineSoftmax). With a trailing reference, a row
    // whose scores stay within the trail keeps its reference, and its
    // correction would be exactly 1: where no row of this thread moved, the
    // branch that computes the corrections and rescales O and l is skipped
    // (after a row's first blocks, nearly every block).
    SmallVector<Value> probs, oldReferences, shifts, rowSums;
    Value anyMoved;
    for (int64_t g = 0; g < numGroups; ++g) {
      ArrayRef<Value> tiles =
          ArrayRef<Value>(scores).slice(g * scoreTiles, scoreTiles);
      for (int64_t r = 0; r < rowsPerGroup; ++r) {
        Value &reference = references[g * rowsPerGroup + r];
        Value newReference = softmax.buildReference(
            b, loc, reference, buildRowMax(tiles, r));
        // False where the row has seen no key yet (-inf on both sides).
        Value moved = arith::CmpFOp::create(
            b, loc, arith::CmpFPredicate::OGT, newReference, reference);
        anyMoved =
            anyMoved ? arith::OrIOp::create(b, loc, anyMoved, moved) : moved;
        shifts.push_back(softmax.buildShift(b, loc, newReference));
        oldReferences.push_back(reference);
        reference = newReference;
      }
      SmallVector<Value> groupProbs =
          buildElementwise(tiles, [&](Value score, int64_t r) {
            return softmax.buildExponent(b, loc, score,
                                         shifts[g * rowsPerGroup + r]);
          });
      for (int64_t r = 0; r < rowsPerGroup; ++r)
        rowSums.push_back(buildThreadRowSum(groupProbs, r));
      llvm::append_range(probs, groupProbs);
    }
    SmallVector<Value> probOperand = buildProbabilityOperand(probs);
    // l' = l c + rowsum(P) and O' = O c, or, where no row moved, l' = l +
    // rowsum(P) and O' = O.
    {
      SmallVector<Value> carried(sums);
      llvm::append_range(carried, acc);
      auto rescale = scf::IfOp::create(b, loc, TypeRange(ValueRange(carried)),
                                       anyMoved, /*withElseRegion=*/true);
      OpBuilder::InsertionGuard ifGuard(b);
      b.setInsertionPointToStart(rescale.thenBlock());
      SmallVector<Value> rescaled, corrections;
      for (int64_t r = 0; r < numRows; ++r) {
        corrections.push_back(
            softmax.buildCorrection(b, loc, oldReferences[r], shifts[r]));
        rescaled.push_back(math::FmaOp::create(b, loc, sums[r],
                                               corrections[r], rowSums[r]));
      }
      for (auto [i, tile] : llvm::enumerate(acc)) {
        int64_t g = i / accTiles;
        rescaled.push_back(buildScaledAccumulator(
            tile, ArrayRef<Value>(corrections)
                      .slice(g * rowsPerGroup, rowsPerGroup)));
      }
      scf::YieldOp::create(b, loc, rescaled);
      b.setInsertionPointToStart(rescale.elseBlock());
      SmallVector<Value> kept;
      for (int64_t r = 0; r < numRows; ++r)
        kept.push_back(arith::AddFOp::create(b, loc, sums[r], rowSums[r]));
      llvm::append_range(kept, acc);
      scf::YieldOp::create(b, loc, kept);
      ValueRange results = rescale.getResults();
      sums.assign(results.begin(), results.begin() + numRows);
      acc.assign(results.begin() + numRows, results.end());
    }

    accumulateValueProduct(probOperand, acc);
    SmallVector<Value> yields = references;
    llvm::append_range(yields, sums);
    llvm::append_range(yields, acc);
    scf::YieldOp::create(b, loc, yields);
  }

  // Epilogue: out = O / l, 0 where the row saw no key (l = 0); lse.
  for (int64_t r = 0; r < numRows; ++r) {
    Value row = buildRowIndex(r);
    Value reference = loop.getResult(r);
    Value sum = buildRowSumAcrossLanes(loop.getResult(numRows + r));
    Value inverse = buildInverseRowSum(b, loc, sum);
    buildIf(b, loc, less(row, querySeqLen), [&] {
      int64_t g = r / rowsPerGroup;
      SmallVector<Value> groupAcc(ValueRange(loop.getResults())
                                      .slice(2 * numRows + g * accTiles,
                                             accTiles));
      storeOutputRow(r, row, groupAcc, inverse);
      if (op.getLse())
        storeLse(row, [&] {
          return buildLogSumExpFromLog2(
              b, loc, softmax.buildReferenceInExp2Units(b, loc, reference),
              sum);
        });
    });
  }
}
