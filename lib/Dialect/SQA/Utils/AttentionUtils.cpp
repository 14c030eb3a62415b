//===- AttentionUtils.cpp - Shared pieces of sqa.attention lowerings ------===//

#include "sqa/Dialect/SQA/Utils/AttentionUtils.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::sqa;

KeyRange mlir::sqa::buildVisibleKeyRange(OpBuilder &b, Location loc,
                                         AttentionOpInterface op, Value row,
                                         Value querySeqLen, Value keySeqLen) {
  // For a vector of rows, every scalar takes the rows' shape.
  auto vectorType = dyn_cast<VectorType>(row.getType());
  auto shaped = [&](Value scalar) -> Value {
    if (!vectorType)
      return scalar;
    return vector::BroadcastOp::create(b, loc, vectorType, scalar);
  };
  // createScalarOrSplatConstant does not take index scalars.
  auto constant = [&](int64_t v) -> Value {
    if (!vectorType)
      return arith::ConstantIndexOp::create(b, loc, v);
    return arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(vectorType, b.getIndexAttr(v)));
  };
  querySeqLen = shaped(querySeqLen);
  keySeqLen = shaped(keySeqLen);
  Value zero = constant(0);
  MaskKind mask = op.getMaskKind();
  std::optional<ArrayRef<int64_t>> window = op.getWindow();
  bool hasLeft = window && (*window)[0] >= 0;
  bool hasRight = window && (*window)[1] >= 0;
  // No sequence reaches 2^61 positions, so a side at least that wide sees the
  // same keys as a side of 2^61, and the sums below of such a side with a row
  // and a diagonal offset (each under 2^61) stay inside i64. Without the
  // clamp a side near INT64_MAX wraps around and hides every key.
  constexpr int64_t kWidestSide = int64_t(1) << 61;
  auto side = [&](unsigned i) { return std::min((*window)[i], kWidestSide); };
  if (mask == MaskKind::none && !hasLeft && !hasRight)
    return {zero, keySeqLen};

  // The diagonal: row + Skv - Sq (bottom-right alignment), row (top-left), or
  // row + diagonal_offset when the op carries one (a tile of query rows).
  Value offset = op.getDiagonalOffset();
  if (offset)
    offset = shaped(offset);
  else
    offset =
        mask == MaskKind::causal_top_left
            ? zero
            : arith::SubIOp::create(b, loc, keySeqLen, querySeqLen).getResult();
  Value diagonal = arith::AddIOp::create(b, loc, row, offset);

  Value end = keySeqLen;
  Value last;
  if (mask != MaskKind::none)
    last = diagonal;
  if (hasRight) {
    Value windowLast =
        arith::AddIOp::create(b, loc, diagonal, constant(side(1)));
    last = last ? arith::MinSIOp::create(b, loc, last, windowLast).getResult()
                : windowLast;
  }
  if (last) {
    Value bound = arith::AddIOp::create(b, loc, last, constant(1));
    bound = arith::MaxSIOp::create(b, loc, bound, zero);
    end = arith::MinSIOp::create(b, loc, bound, keySeqLen);
  }

  Value begin = zero;
  if (hasLeft) {
    Value first =
        arith::SubIOp::create(b, loc, diagonal, constant(side(0)));
    begin = arith::MaxSIOp::create(b, loc, first, zero);
  }
  return {begin, end};
}

KeyBlockSchedule mlir::sqa::buildKeyBlockSchedule(
    OpBuilder &b, Location loc, AttentionOpInterface op, Value firstRow,
    int64_t blockRows, int64_t keyBlock, Value querySeqLen, Value keySeqLen) {
  auto constant = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  Value lastRow = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, firstRow, constant(blockRows - 1)),
      arith::SubIOp::create(b, loc, querySeqLen, constant(1)));
  KeyBlockSchedule schedule;
  schedule.firstRowKeys =
      buildVisibleKeyRange(b, loc, op, firstRow, querySeqLen, keySeqLen);
  schedule.lastRowKeys =
      buildVisibleKeyRange(b, loc, op, lastRow, querySeqLen, keySeqLen);
  schedule.begin = arith::DivUIOp::create(b, loc, schedule.firstRowKeys.begin,
                                          constant(keyBlock));
  Value endBlock = arith::DivUIOp::create(
      b, loc,
      arith::AddIOp::create(b, loc, schedule.lastRowKeys.end,
                            constant(keyBlock - 1)),
      constant(keyBlock));
  schedule.end = arith::MaxSIOp::create(b, loc, schedule.begin, endBlock);
  return schedule;
}

HeadsRead mlir::sqa::buildHeadsRead(OpBuilder &b, Location loc,
                                    AttentionOpInterface op, Value outputHead) {
  AffineExpr d0 = b.getAffineDimExpr(0);
  auto apply = [&](AffineExpr expr) -> Value {
    return affine::AffineApplyOp::create(b, loc, AffineMap::get(1, 0, expr),
                                         outputHead);
  };
  return {apply(op.getQueryHeadExpr(d0)), apply(op.getKvHeadExpr(d0))};
}

/// outer * stride + inner, as affine.apply.
static Value buildStrided(OpBuilder &b, Location loc, Value outer,
                          int64_t stride, Value inner) {
  AffineExpr o, i;
  bindDims(b.getContext(), o, i);
  return affine::AffineApplyOp::create(
      b, loc, AffineMap::get(2, 0, o * stride + i), ValueRange{outer, inner});
}

Value mlir::sqa::buildOutputHeadReadingKvHead(OpBuilder &b, Location loc,
                                              AttentionOpInterface op,
                                              Value kvHead, Value index) {
  return buildStrided(b, loc, kvHead,
                      op.getNumOutputHeads() / op.getNumKvHeads(), index);
}

Value mlir::sqa::buildOutputHeadReadingQueryHead(OpBuilder &b, Location loc,
                                                 AttentionOpInterface op,
                                                 Value queryHead, Value index) {
  return buildStrided(b, loc, index, op.getNumQueryHeads(), queryHead);
}

/// The first x in [0, count) with predicate(x), or count: a binary search,
/// `predicate` false and then true over the range. Upstream has no such
/// builder; scf.while keeps it a loop of log2(count) steps.
static Value
buildFirstTrue(OpBuilder &b, Location loc, Value count,
               function_ref<Value(OpBuilder &, Location, Value)> predicate) {
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Type index = b.getIndexType();
  auto loop = scf::WhileOp::create(
      b, loc, TypeRange{index, index}, ValueRange{zero, count},
      [&](OpBuilder &cb, Location cl, ValueRange args) {
        Value more = arith::CmpIOp::create(cb, cl, arith::CmpIPredicate::ult,
                                           args[0], args[1]);
        scf::ConditionOp::create(cb, cl, more, args);
      },
      [&](OpBuilder &bb, Location bl, ValueRange args) {
        Value lo = args[0], hi = args[1];
        Value mid = arith::ShRUIOp::create(
            bb, bl, arith::AddIOp::create(bb, bl, lo, hi),
            arith::ConstantIndexOp::create(bb, bl, 1));
        Value holds = predicate(bb, bl, mid);
        Value next = arith::AddIOp::create(
            bb, bl, mid, arith::ConstantIndexOp::create(bb, bl, 1));
        scf::YieldOp::create(
            bb, bl,
            ValueRange{arith::SelectOp::create(bb, bl, holds, lo, next),
                       arith::SelectOp::create(bb, bl, holds, mid, hi)});
      });
  return loop.getResult(0);
}

QueryBlockRange mlir::sqa::buildQueryBlockRange(OpBuilder &b, Location loc,
                                           AttentionOpInterface op,
                                           Value keyBlockIndex,
                                           int64_t blockRows, int64_t keyBlock,
                                           Value querySeqLen, Value keySeqLen) {
  Value rows = arith::ConstantIndexOp::create(b, loc, blockRows);
  Value count = arith::DivUIOp::create(
      b, loc,
      arith::AddIOp::create(
          b, loc, querySeqLen,
          arith::ConstantIndexOp::create(b, loc, blockRows - 1)),
      rows);
  auto schedule = [&](OpBuilder &nb, Location nl, Value block) {
    return buildKeyBlockSchedule(nb, nl, op,
                                 arith::MulIOp::create(nb, nl, block, rows),
                                 blockRows, keyBlock, querySeqLen, keySeqLen);
  };
  QueryBlockRange range;
  // Visited from the first q-block whose schedule ends after the block ...
  range.begin = buildFirstTrue(b, loc, count, [&](OpBuilder &nb, Location nl,
                                                  Value block) {
    return arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::ugt,
                                 schedule(nb, nl, block).end, keyBlockIndex)
        .getResult();
  });
  // ... up to the first whose schedule begins after it.
  Value end = buildFirstTrue(b, loc, count, [&](OpBuilder &nb, Location nl,
                                                Value block) {
    return arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::ugt,
                                 schedule(nb, nl, block).begin, keyBlockIndex)
        .getResult();
  });
  range.end = arith::MaxUIOp::create(b, loc, range.begin, end);
  return range;
}

Value mlir::sqa::buildKeyBlockIsFullyVisible(OpBuilder &b, Location loc,
                                             const KeyBlockSchedule &schedule,
                                             Value blockStart,
                                             int64_t keyBlock) {
  // On an i32 blockStart, the schedule's bounds are cast to i32 here; in a
  // loop over blocks the casts are loop-invariant and hoisted, so only
  // 32-bit values stay live through it.
  Type type = blockStart.getType();
  auto cast = [&](Value value) -> Value {
    if (type.isIndex())
      return value;
    return arith::IndexCastOp::create(b, loc, type, value);
  };
  Value blockEnd = arith::AddIOp::create(
      b, loc, blockStart,
      arith::ConstantOp::create(b, loc, type,
                                b.getIntegerAttr(type, keyBlock)));
  return arith::AndIOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, blockStart,
                            cast(schedule.lastRowKeys.begin)),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, blockEnd,
                            cast(schedule.firstRowKeys.end)));
}

/// The f32 counterpart of `type` (a scalar or vector float type).
static Type withF32Elements(Type type) {
  Type f32 = Float32Type::get(type.getContext());
  if (auto vectorType = dyn_cast<VectorType>(type))
    return vectorType.clone(f32);
  return f32;
}

Value mlir::sqa::buildExtendToF32(OpBuilder &b, Location loc, Value value) {
  if (getElementTypeOrSelf(value.getType()).isF32())
    return value;
  return arith::ExtFOp::create(b, loc, withF32Elements(value.getType()), value);
}

Value mlir::sqa::buildTruncateFromF32(OpBuilder &b, Location loc, Value value,
                                      Type elementType) {
  if (elementType.isF32())
    return value;
  Type type = elementType;
  if (auto vectorType = dyn_cast<VectorType>(value.getType()))
    type = vectorType.clone(elementType);
  return arith::TruncFOp::create(b, loc, type, value);
}

Value mlir::sqa::buildGeneric(
    OpBuilder &b, Location loc, ValueRange inputs, Value init, unsigned numDims,
    ArrayRef<SmallVector<AffineExpr>> operandExprs, unsigned numReductions,
    function_ref<void(OpBuilder &, Location, ValueRange)> body) {
  SmallVector<AffineMap> maps;
  for (ArrayRef<AffineExpr> exprs : operandExprs)
    maps.push_back(AffineMap::get(numDims, 0, exprs, b.getContext()));
  SmallVector<utils::IteratorType> iterators(numDims - numReductions,
                                             utils::IteratorType::parallel);
  iterators.append(numReductions, utils::IteratorType::reduction);
  return linalg::GenericOp::create(b, loc, init.getType(), inputs, init, maps,
                                   iterators, body)
      .getResult(0);
}

Value mlir::sqa::buildFilledF32Tensor(OpBuilder &b, Location loc,
                                      ArrayRef<OpFoldResult> sizes,
                                      float value) {
  Value empty = tensor::EmptyOp::create(b, loc, sizes, b.getF32Type());
  Value fill = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  return linalg::FillOp::create(b, loc, fill, empty).getResult(0);
}

Value mlir::sqa::buildF32Contraction(
    OpBuilder &b, Location loc, Value lhs, Value rhs, Value acc,
    unsigned numDims, ArrayRef<SmallVector<AffineExpr>> operandExprs,
    unsigned numReductions) {
  return buildGeneric(
      b, loc, {lhs, rhs}, acc, numDims, operandExprs, numReductions,
      [](OpBuilder &nb, Location l, ValueRange args) {
        Value product =
            arith::MulFOp::create(nb, l, buildExtendToF32(nb, l, args[0]),
                                  buildExtendToF32(nb, l, args[1]));
        linalg::YieldOp::create(
            nb, l, arith::AddFOp::create(nb, l, args[2], product).getResult());
      });
}

Value mlir::sqa::buildQueryKeyProduct(OpBuilder &b, Location loc,
                                      AttentionOpInterface op, Value query,
                                      Value key, Value scores) {
  // Loops (b, h, i, j, d).
  AffineExpr d0, d1, d2, d3, d4;
  bindDims(b.getContext(), d0, d1, d2, d3, d4);
  return buildF32Contraction(b, loc, query, key, scores, 5,
                             {{d0, op.getQueryHeadExpr(d1), d2, d4},
                              {d0, op.getKvHeadExpr(d1), d3, d4},
                              {d0, d1, d2, d3}},
                             1);
}

Value mlir::sqa::buildProbValueProduct(OpBuilder &b, Location loc,
                                       AttentionOpInterface op, Value probs,
                                       Value value, Value acc) {
  // Loops (b, h, i, e, j).
  AffineExpr d0, d1, d2, d3, d4;
  bindDims(b.getContext(), d0, d1, d2, d3, d4);
  return buildF32Contraction(
      b, loc, probs, value, acc, 5,
      {{d0, d1, d2, d4}, {d0, op.getKvHeadExpr(d1), d4, d3}, {d0, d1, d2, d3}},
      1);
}

Value mlir::sqa::buildScaleAndMask(OpBuilder &b, Location loc,
                                   AttentionOpInterface op, Value scores,
                                   float scale, Value keyOffset,
                                   Value querySeqLen, Value keySeqLen,
                                   Value rowOffset) {
  bool masked = op.getMaskKind() != MaskKind::none || op.getWindow();
  AffineExpr d0, d1, d2, d3;
  bindDims(b.getContext(), d0, d1, d2, d3);
  return buildGeneric(
      b, loc, {}, scores, 4, {{d0, d1, d2, d3}}, 0,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        auto f32Constant = [&](float v) -> Value {
          return arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(v));
        };
        Value scaled =
            arith::MulFOp::create(nb, l, args[0], f32Constant(scale));
        if (!masked) {
          linalg::YieldOp::create(nb, l, scaled);
          return;
        }
        Value row = linalg::IndexOp::create(nb, l, 2);
        if (rowOffset)
          row = arith::AddIOp::create(nb, l, row, rowOffset);
        Value key = arith::AddIOp::create(
            nb, l, linalg::IndexOp::create(nb, l, 3), keyOffset);
        KeyRange range =
            buildVisibleKeyRange(nb, l, op, row, querySeqLen, keySeqLen);
        Value afterBegin = arith::CmpIOp::create(
            nb, l, arith::CmpIPredicate::sge, key, range.begin);
        Value beforeEnd = arith::CmpIOp::create(
            nb, l, arith::CmpIPredicate::slt, key, range.end);
        Value visible = arith::AndIOp::create(nb, l, afterBegin, beforeEnd);
        Value negInf = f32Constant(-std::numeric_limits<float>::infinity());
        linalg::YieldOp::create(
            nb, l,
            arith::SelectOp::create(nb, l, visible, scaled, negInf)
                .getResult());
      });
}

Value mlir::sqa::buildProbabilities(OpBuilder &b, Location loc, Value scores,
                                    Value rowShift) {
  AffineExpr d0, d1, d2, d3;
  bindDims(b.getContext(), d0, d1, d2, d3);
  return buildGeneric(
      b, loc, rowShift, scores, 4, {{d0, d1, d2}, {d0, d1, d2, d3}}, 0,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        auto f32Constant = [&](float value) -> Value {
          return arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(value));
        };
        Value negInf = f32Constant(-std::numeric_limits<float>::infinity());
        Value masked = arith::OrIOp::create(
            nb, l,
            arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, args[1],
                                  negInf),
            arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, args[0],
                                  negInf));
        Value exp = math::ExpOp::create(
            nb, l, arith::SubFOp::create(nb, l, args[1], args[0]));
        linalg::YieldOp::create(
            nb, l,
            arith::SelectOp::create(nb, l, masked, f32Constant(0.0f), exp)
                .getResult());
      });
}

Value mlir::sqa::buildNormalizedOutput(OpBuilder &b, Location loc,
                                       AttentionOp op, Value acc,
                                       Value rowSum) {
  AffineExpr d0, d1, d2, d3;
  bindDims(b.getContext(), d0, d1, d2, d3);
  Type outElementType = op.getOutputType().getElementType();
  return buildGeneric(
      b, loc, {acc, rowSum}, op.getOutput(), 4,
      {{d0, d1, d2, d3}, {d0, d1, d2}, {d0, d1, d2, d3}}, 0,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value zero = arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(0));
        Value seen = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT,
                                           args[1], zero);
        Value normalized = arith::DivFOp::create(nb, l, args[0], args[1]);
        Value result = arith::SelectOp::create(nb, l, seen, normalized, zero);
        linalg::YieldOp::create(
            nb, l, buildTruncateFromF32(nb, l, result, outElementType));
      });
}

OnlineSoftmax::OnlineSoftmax(float scaleLog2, bool subtractFirst, float trail)
    : scaleLog2(scaleLog2), subtractFirst(subtractFirst), trail(trail) {
  assert(!(subtractFirst && trail != 0.0f) &&
         "a trailing reference is in exp2 units");
}

/// A constant `value` of the type of `like` (f32 or a vector of f32).
static Value f32Like(OpBuilder &b, Location loc, Value like, float value) {
  return createScalarOrSplatConstant(b, loc, like.getType(), APFloat(value));
}

Value OnlineSoftmax::buildReference(OpBuilder &b, Location loc,
                                    Value reference, Value rowMax) const {
  Value candidate = rowMax;
  if (!subtractFirst) {
    if (scaleLog2 != 1.0f && trail != 0.0f)
      candidate =
          math::FmaOp::create(b, loc, rowMax, f32Like(b, loc, rowMax, scaleLog2),
                              f32Like(b, loc, rowMax, -trail));
    else if (scaleLog2 != 1.0f)
      candidate = arith::MulFOp::create(b, loc, rowMax,
                                        f32Like(b, loc, rowMax, scaleLog2));
    else if (trail != 0.0f)
      candidate = arith::SubFOp::create(b, loc, rowMax,
                                        f32Like(b, loc, rowMax, trail));
  }
  return arith::MaxNumFOp::create(b, loc, reference, candidate);
}

Value OnlineSoftmax::buildShift(OpBuilder &b, Location loc,
                                Value reference) const {
  return arith::MaxNumFOp::create(
      b, loc, reference,
      f32Like(b, loc, reference, -std::numeric_limits<float>::max()));
}

Value OnlineSoftmax::buildExponent(OpBuilder &b, Location loc, Value score,
                                   Value shift) const {
  Value exponent;
  if (subtractFirst)
    exponent = arith::MulFOp::create(b, loc,
                                     arith::SubFOp::create(b, loc, score, shift),
                                     f32Like(b, loc, score, scaleLog2));
  else if (scaleLog2 == 1.0f)
    exponent = arith::SubFOp::create(b, loc, score, shift);
  else
    exponent = math::FmaOp::create(b, loc, score,
                                   f32Like(b, loc, score, scaleLog2),
                                   arith::NegFOp::create(b, loc, shift));
  return math::Exp2Op::create(b, loc, exponent);
}

Value OnlineSoftmax::buildCorrection(OpBuilder &b, Location loc,
                                     Value oldReference, Value shift) const {
  Value exponent = arith::SubFOp::create(b, loc, oldReference, shift);
  if (subtractFirst)
    exponent = arith::MulFOp::create(b, loc, exponent,
                                     f32Like(b, loc, exponent, scaleLog2));
  return math::Exp2Op::create(b, loc, exponent);
}

Value OnlineSoftmax::buildReferenceInExp2Units(OpBuilder &b, Location loc,
                                               Value reference) const {
  if (!subtractFirst)
    return reference;
  return arith::MulFOp::create(b, loc, reference,
                               f32Like(b, loc, reference, scaleLog2));
}

Value mlir::sqa::buildLogSumExpFromLog2(OpBuilder &b, Location loc,
                                        Value rowMax, Value rowSum) {
  auto f32Constant = [&](float v) {
    return createScalarOrSplatConstant(b, loc, rowSum.getType(), APFloat(v));
  };
  Value seen = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, rowSum,
                                     f32Constant(0.0f));
  Value log2Sum = math::Log2Op::create(b, loc, rowSum);
  Value lse = arith::MulFOp::create(
      b, loc, arith::AddFOp::create(b, loc, rowMax, log2Sum),
      f32Constant(static_cast<float>(M_LN2)));
  return arith::SelectOp::create(
      b, loc, seen, lse, f32Constant(-std::numeric_limits<float>::infinity()));
}

Value mlir::sqa::buildInverseRowSum(OpBuilder &b, Location loc, Value rowSum) {
  Value seen = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, rowSum,
                                     f32Like(b, loc, rowSum, 0.0f));
  Value inverse =
      arith::DivFOp::create(b, loc, f32Like(b, loc, rowSum, 1.0f), rowSum);
  return arith::SelectOp::create(b, loc, seen, inverse,
                                 f32Like(b, loc, rowSum, 0.0f));
}
