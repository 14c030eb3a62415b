//===- AttentionUtils.cpp - Shared pieces of sqa.attention lowerings ------===//

#include "sqa/Dialect/SQA/Utils/AttentionUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::sqa;

KeyRange mlir::sqa::buildVisibleKeyRange(OpBuilder &b, Location loc,
                                         AttentionOp op, Value row,
                                         Value querySeqLen, Value keySeqLen) {
  auto constant = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  Value zero = constant(0);
  MaskKind mask = op.getMaskKind();
  std::optional<ArrayRef<int64_t>> window = op.getWindow();
  bool hasLeft = window && (*window)[0] >= 0;
  bool hasRight = window && (*window)[1] >= 0;
  if (mask == MaskKind::none && !hasLeft && !hasRight)
    return {zero, keySeqLen};

  // Diagonal of the bottom-right alignment: row + Skv - Sq.
  Value offset = arith::SubIOp::create(b, loc, keySeqLen, querySeqLen);
  Value diagonal = arith::AddIOp::create(b, loc, row, offset);

  Value end = keySeqLen;
  Value last;
  if (mask == MaskKind::causal_bottom_right)
    last = diagonal;
  else if (mask == MaskKind::causal_top_left)
    last = row;
  if (hasRight) {
    Value windowLast =
        arith::AddIOp::create(b, loc, diagonal, constant((*window)[1]));
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
        arith::SubIOp::create(b, loc, diagonal, constant((*window)[0]));
    begin = arith::MaxSIOp::create(b, loc, first, zero);
  }
  return {begin, end};
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
  return arith::ExtFOp::create(b, loc, withF32Elements(value.getType()),
                               value);
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
