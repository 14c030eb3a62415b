//===- SQAOps.cpp - SQA operations ------------------------------*- C++ -*-===//

#include "sqa/Dialect/SQA/IR/SQAOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>

using namespace mlir;
using namespace mlir::sqa;

#define GET_OP_CLASSES
#include "sqa/Dialect/SQA/IR/SQAOps.cpp.inc"

float AttentionOp::getScaleOrDefault() {
  if (std::optional<APFloat> scale = getScale())
    return scale->convertToFloat();
  return 1.0f / std::sqrt(static_cast<float>(getHeadDim()));
}

AffineExpr AttentionOp::getQueryHeadExpr(AffineExpr outHead) {
  // Reverse SQA tiles the query heads over the key/value heads.
  if (isReverse())
    return outHead % getNumQueryHeads();
  return outHead;
}

AffineExpr AttentionOp::getKvHeadExpr(AffineExpr outHead) {
  if (isReverse())
    return outHead;
  // Contiguous grouping: Hq / Hkv consecutive query heads share a K/V head.
  return outHead.floorDiv(getNumQueryHeads() / getNumKvHeads());
}

/// Formats a dimension for diagnostics: `?` when dynamic.
static std::string dimToString(int64_t dim) {
  return ShapedType::isDynamic(dim) ? "?" : std::to_string(dim);
}

void AttentionOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  // Tensor semantics: no effects. Buffer semantics: reads the inputs, writes
  // the outputs (which are never read: every element is overwritten).
  if (hasPureTensorSemantics())
    return;
  for (OpOperand *input : getDpsInputOperands())
    effects.emplace_back(MemoryEffects::Read::get(), input,
                         SideEffects::DefaultResource::get());
  for (OpOperand &output : getDpsInitsMutable())
    effects.emplace_back(MemoryEffects::Write::get(), &output,
                         SideEffects::DefaultResource::get());
}

LogicalResult AttentionOp::verify() {
  ShapedType queryType = getQueryType();
  ShapedType keyType = getKeyType();
  ShapedType valueType = getValueType();

  // (C15) All tensors or all memrefs.
  bool hasTensors = hasPureTensorSemantics();
  if (!hasTensors && !hasPureBufferSemantics())
    return emitOpError("expects all operands to be tensors or all to be "
                       "memrefs, but got a mix");

  // (C11) One or two outputs whose types are the result types.
  if (getOutputs().empty() || getOutputs().size() > 2)
    return emitOpError("expects one or two outputs (out and optional lse), "
                       "but got ")
           << getOutputs().size();
  if (!hasTensors && !getResults().empty())
    return emitOpError("expects no results with memref operands, but got ")
           << getResults().size();
  if (hasTensors) {
    if (getResults().size() != getOutputs().size())
      return emitOpError("expects as many results as outputs, but got ")
             << getResults().size() << " results and " << getOutputs().size()
             << " outputs";
    for (auto [index, output, result] :
         llvm::enumerate(getOutputs(), getResults()))
      if (output.getType() != result.getType())
        return emitOpError("result #")
               << index << " type " << result.getType()
               << " does not match its output type " << output.getType();
  }

  // (C1) Ranks.
  auto checkRank = [&](Type type, StringRef name,
                       int64_t rank) -> LogicalResult {
    if (cast<ShapedType>(type).getRank() != rank)
      return emitOpError() << "expects " << name << " to have rank " << rank
                           << ", but got " << type;
    return success();
  };
  if (failed(checkRank(queryType, "query", 4)) ||
      failed(checkRank(keyType, "key", 4)) ||
      failed(checkRank(valueType, "value", 4)) ||
      failed(checkRank(getOutputType(), "out", 4)))
    return failure();
  ShapedType lseType;
  if (Value lse = getLse()) {
    lseType = cast<ShapedType>(lse.getType());
    if (failed(checkRank(lseType, "lse", 3)))
      return failure();
  }

  // (C2) One floating-point element type for query, key and value.
  Type elementType = queryType.getElementType();
  if (!elementType.isF16() && !elementType.isBF16() && !elementType.isF32())
    return emitOpError("expects query element type to be f16, bf16 or f32, "
                       "but got ")
           << elementType;
  if (keyType.getElementType() != elementType ||
      valueType.getElementType() != elementType)
    return emitOpError("expects query, key and value to have the same element "
                       "type, but got ")
           << elementType << ", " << keyType.getElementType() << " and "
           << valueType.getElementType();

  // (C3) Output element types.
  Type outElementType = getOutputType().getElementType();
  if (outElementType != elementType && !outElementType.isF32())
    return emitOpError("expects out element type to be ")
           << elementType << " or f32, but got " << outElementType;
  if (lseType && !lseType.getElementType().isF32())
    return emitOpError("expects lse element type to be f32, but got ")
           << lseType.getElementType();

  // (C4) Static, positive head counts and head dims.
  auto checkStatic = [&](int64_t dim, StringRef what) -> LogicalResult {
    if (ShapedType::isDynamic(dim) || dim <= 0)
      return emitOpError() << "expects " << what
                           << " to be static and positive, but got "
                           << dimToString(dim);
    return success();
  };
  if (failed(checkStatic(queryType.getDimSize(1), "the query head count")) ||
      failed(checkStatic(keyType.getDimSize(1), "the key head count")) ||
      failed(checkStatic(valueType.getDimSize(1), "the value head count")) ||
      failed(checkStatic(queryType.getDimSize(3), "the query head dim")) ||
      failed(checkStatic(keyType.getDimSize(3), "the key head dim")) ||
      failed(checkStatic(valueType.getDimSize(3), "the value head dim")))
    return failure();

  // (C6) Key and value agree on heads and sequence length.
  if (keyType.getDimSize(1) != valueType.getDimSize(1))
    return emitOpError("expects key and value to have the same head count, "
                       "but got ")
           << keyType.getDimSize(1) << " and " << valueType.getDimSize(1);
  if (failed(verifyCompatibleDims(
          {keyType.getDimSize(2), valueType.getDimSize(2)})))
    return emitOpError("expects key and value to have the same sequence "
                       "length, but got ")
           << dimToString(keyType.getDimSize(2)) << " and "
           << dimToString(valueType.getDimSize(2));

  // (C5) Head counts divide one way or the other.
  int64_t numQueryHeads = getNumQueryHeads();
  int64_t numKvHeads = getNumKvHeads();
  if (numQueryHeads % numKvHeads != 0 && numKvHeads % numQueryHeads != 0)
    return emitOpError("expects one of the query head count (")
           << numQueryHeads << ") and the key/value head count (" << numKvHeads
           << ") to divide the other";

  // (C7) Query/key head dim.
  if (getHeadDim() != keyType.getDimSize(3))
    return emitOpError("expects query and key to have the same head dim, "
                       "but got ")
           << getHeadDim() << " and " << keyType.getDimSize(3);

  // (C8) Batch sizes.
  SmallVector<int64_t> batchSizes = {
      queryType.getDimSize(0), keyType.getDimSize(0), valueType.getDimSize(0),
      getOutputType().getDimSize(0)};
  if (lseType)
    batchSizes.push_back(lseType.getDimSize(0));
  if (failed(verifyCompatibleDims(batchSizes)))
    return emitOpError("expects query, key, value and outputs to have the "
                       "same batch size");

  // (C9) Out shape B x Ho x Sq x Dv.
  int64_t numOutputHeads = getNumOutputHeads();
  ArrayRef<int64_t> outShape = getOutputType().getShape();
  if (outShape[1] != numOutputHeads ||
      failed(verifyCompatibleDims({outShape[2], queryType.getDimSize(2)})) ||
      outShape[3] != getValueHeadDim())
    return emitOpError("expects out shape ?x")
           << numOutputHeads << "x" << dimToString(queryType.getDimSize(2))
           << "x" << getValueHeadDim() << " (batch x max(Hq, Hkv) x Sq x Dv), "
           << "but got " << getOutputType();

  // (C10) Lse shape B x Ho x Sq.
  if (lseType && (lseType.getDimSize(1) != numOutputHeads ||
                  failed(verifyCompatibleDims(
                      {lseType.getDimSize(2), queryType.getDimSize(2)}))))
    return emitOpError("expects lse shape ?x")
           << numOutputHeads << "x" << dimToString(queryType.getDimSize(2))
           << " (batch x max(Hq, Hkv) x Sq), but got " << lseType;

  // (C12) Scale.
  if (std::optional<APFloat> scale = getScale()) {
    if (!scale->isFiniteNonZero() || scale->isNegative())
      return emitOpError("expects scale to be positive and finite, but got ")
             << scale->convertToFloat();
  }

  // (C13) Window.
  if (std::optional<ArrayRef<int64_t>> window = getWindow()) {
    if (window->size() != 2)
      return emitOpError("expects window to have two entries [left, right], "
                         "but got ")
             << window->size();
    if ((*window)[0] < -1 || (*window)[1] < -1)
      return emitOpError("expects window sizes to be >= -1 (-1: unbounded), "
                         "but got [")
             << (*window)[0] << ", " << (*window)[1] << "]";
    if (getMaskKind() == MaskKind::causal_top_left)
      return emitOpError("expects window to be used with no mask or "
                         "'causal_bottom_right': windows are in bottom-right "
                         "coordinates");
  }

  // (C14) A diagonal offset only means something to a mask or a window.
  if (getDiagonalOffset() && getMaskKind() == MaskKind::none && !getWindow())
    return emitOpError("expects diagonal_offset only with a causal mask or a "
                       "window");
  return success();
}
