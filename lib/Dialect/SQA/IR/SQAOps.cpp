//===- SQAOps.cpp - SQA operations ------------------------------*- C++ -*-===//

#include "sqa/Dialect/SQA/IR/SQAOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>

using namespace mlir;
using namespace mlir::sqa;

#include "sqa/Dialect/SQA/IR/SQAInterfaces.cpp.inc"

#define GET_OP_CLASSES
#include "sqa/Dialect/SQA/IR/SQAOps.cpp.inc"

/// Formats a dimension for diagnostics: `?` when dynamic.
static std::string dimToString(int64_t dim) {
  return ShapedType::isDynamic(dim) ? "?" : std::to_string(dim);
}

/// Destination-style effects: none with tensor semantics; with buffer
/// semantics the inputs are read and the outputs written (never read: every
/// element is overwritten).
static void getDestinationStyleEffects(
    DestinationStyleOpInterface op,
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  if (op.hasPureTensorSemantics())
    return;
  for (OpOperand *input : op.getDpsInputOperands())
    if (isa<MemRefType>(input->get().getType()))
      effects.emplace_back(MemoryEffects::Read::get(), input,
                           SideEffects::DefaultResource::get());
  for (OpOperand &output : op.getDpsInitsMutable())
    effects.emplace_back(MemoryEffects::Write::get(), &output,
                         SideEffects::DefaultResource::get());
}

void AttentionOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  getDestinationStyleEffects(*this, effects);
}

void AttentionGradOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  getDestinationStyleEffects(*this, effects);
}

/// Checks the rules shared by sqa.attention and sqa.attention_grad on the
/// scale, the window and the diagonal offset (C12, C13 and C14 of both).
static LogicalResult verifyMaskAndScale(Operation *op,
                                        AttentionOpInterface attention) {
  // (C12) Scale.
  if (std::optional<APFloat> scale = attention.getScale()) {
    if (!scale->isFiniteNonZero() || scale->isNegative())
      return op->emitOpError("expects scale to be positive and finite, but "
                             "got ")
             << scale->convertToFloat();
    // The lowerings take exponentials in base 2 with scale * log2(e) folded
    // into one f32 constant; a scale that makes it infinite would give
    // infinite scores (and NaN) for every input.
    if (!std::isfinite(attention.getScaleLog2()))
      return op->emitOpError("expects scale * log2(e) to be finite in f32 "
                             "(scale at most ")
             << std::numeric_limits<float>::max() / llvm::numbers::log2ef
             << "), but got " << scale->convertToFloat();
  }

  // (C13) Window.
  if (std::optional<ArrayRef<int64_t>> window = attention.getWindow()) {
    if (window->size() != 2)
      return op->emitOpError("expects window to have two entries [left, "
                             "right], but got ")
             << window->size();
    if ((*window)[0] < -1 || (*window)[1] < -1)
      return op->emitOpError("expects window sizes to be >= -1 (-1: "
                             "unbounded), but got [")
             << (*window)[0] << ", " << (*window)[1] << "]";
    if (attention.getMaskKind() == MaskKind::causal_top_left)
      return op->emitOpError("expects window to be used with no mask or "
                             "'causal_bottom_right': windows are in "
                             "bottom-right coordinates");
  }

  // (C14) A diagonal offset only means something to a mask or a window.
  if (attention.getDiagonalOffset() &&
      attention.getMaskKind() == MaskKind::none && !attention.getWindow())
    return op->emitOpError("expects diagonal_offset only with a causal mask "
                           "or a window");
  return success();
}

/// Checks that `type` has rank `rank`.
static LogicalResult checkRank(Operation *op, Type type, StringRef name,
                               int64_t rank) {
  if (cast<ShapedType>(type).getRank() != rank)
    return op->emitOpError() << "expects " << name << " to have rank " << rank
                             << ", but got " << type;
  return success();
}

/// (C3, C4) `type`, the element type of `name`, is the query's element type
/// `queryType` or f32.
static LogicalResult checkQueryTypeOrF32(Operation *op, StringRef name,
                                         Type queryType, Type type) {
  if (type == queryType || type.isF32())
    return success();
  InFlightDiagnostic diag = op->emitOpError()
                            << "expects " << name << " element type to be ";
  if (!queryType.isF32())
    diag << queryType << " or ";
  return diag << "f32, but got " << type;
}

/// (C15 of both ops) All tensors or all memrefs; (C11) as many results as
/// outputs, of their types, with tensors, none with memrefs.
static LogicalResult verifySemantics(DestinationStyleOpInterface op,
                                     ValueRange outputs, ValueRange results) {
  bool hasTensors = op.hasPureTensorSemantics();
  if (!hasTensors && !op.hasPureBufferSemantics())
    return op->emitOpError("expects all operands to be tensors or all to be "
                           "memrefs, but got a mix");
  if (!hasTensors && !results.empty())
    return op->emitOpError("expects no results with memref operands, but got ")
           << results.size();
  if (!hasTensors)
    return success();
  if (results.size() != outputs.size())
    return op->emitOpError("expects as many results as outputs, but got ")
           << results.size() << " results and " << outputs.size() << " outputs";
  for (auto [index, output, result] : llvm::enumerate(outputs, results))
    if (output.getType() != result.getType())
      return op->emitOpError("result #")
             << index << " type " << result.getType()
             << " does not match its output type " << output.getType();
  return success();
}

/// The rules both ops have on query, key and value: rank 4 (C1), one element
/// type f16/bf16/f32 (C2), static positive heads and head dims (C4 of
/// sqa.attention, C5 of sqa.attention_grad), key and value agreeing on heads
/// and length (C6; C7), head counts dividing (C5; C6), and the query/key
/// head dim (C7; C7).
static LogicalResult verifyQueryKeyValue(Operation *op,
                                         AttentionOpInterface attention) {
  ShapedType queryType = attention.getQueryType();
  ShapedType keyType = attention.getKeyType();
  ShapedType valueType = attention.getValueType();
  if (failed(checkRank(op, queryType, "query", 4)) ||
      failed(checkRank(op, keyType, "key", 4)) ||
      failed(checkRank(op, valueType, "value", 4)))
    return failure();

  Type elementType = queryType.getElementType();
  if (!elementType.isF16() && !elementType.isBF16() && !elementType.isF32())
    return op->emitOpError("expects query element type to be f16, bf16 or "
                           "f32, but got ")
           << elementType;
  if (keyType.getElementType() != elementType ||
      valueType.getElementType() != elementType)
    return op->emitOpError("expects query, key and value to have the same "
                           "element type, but got ")
           << elementType << ", " << keyType.getElementType() << " and "
           << valueType.getElementType();

  auto checkStatic = [&](int64_t dim, StringRef what) -> LogicalResult {
    if (ShapedType::isDynamic(dim) || dim <= 0)
      return op->emitOpError()
             << "expects " << what << " to be static and positive, but got "
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

  if (keyType.getDimSize(1) != valueType.getDimSize(1))
    return op->emitOpError("expects key and value to have the same head "
                           "count, but got ")
           << keyType.getDimSize(1) << " and " << valueType.getDimSize(1);
  if (failed(verifyCompatibleDims(
          {keyType.getDimSize(2), valueType.getDimSize(2)})))
    return op->emitOpError("expects key and value to have the same sequence "
                           "length, but got ")
           << dimToString(keyType.getDimSize(2)) << " and "
           << dimToString(valueType.getDimSize(2));

  int64_t numQueryHeads = attention.getNumQueryHeads();
  int64_t numKvHeads = attention.getNumKvHeads();
  if (numQueryHeads % numKvHeads != 0 && numKvHeads % numQueryHeads != 0)
    return op->emitOpError("expects one of the query head count (")
           << numQueryHeads << ") and the key/value head count (" << numKvHeads
           << ") to divide the other";

  if (attention.getHeadDim() != keyType.getDimSize(3))
    return op->emitOpError("expects query and key to have the same head dim, "
                           "but got ")
           << attention.getHeadDim() << " and " << keyType.getDimSize(3);
  return success();
}

/// Checks that `type` is B x max(Hq, Hkv) x Sq x Dv (`name` in messages).
static LogicalResult checkOutputShape(Operation *op,
                                      AttentionOpInterface attention,
                                      ShapedType type, StringRef name) {
  int64_t numOutputHeads = attention.getNumOutputHeads();
  int64_t querySeqLen = attention.getQueryType().getDimSize(2);
  ArrayRef<int64_t> shape = type.getShape();
  if (shape[1] != numOutputHeads ||
      failed(verifyCompatibleDims({shape[2], querySeqLen})) ||
      shape[3] != attention.getValueHeadDim())
    return op->emitOpError("expects ")
           << name << " shape ?x" << numOutputHeads << "x"
           << dimToString(querySeqLen) << "x" << attention.getValueHeadDim()
           << " (batch x max(Hq, Hkv) x Sq x Dv), but got " << type;
  return success();
}

/// Checks that `type` is B x max(Hq, Hkv) x Sq.
static LogicalResult
checkLseShape(Operation *op, AttentionOpInterface attention, ShapedType type) {
  int64_t numOutputHeads = attention.getNumOutputHeads();
  int64_t querySeqLen = attention.getQueryType().getDimSize(2);
  if (type.getDimSize(1) != numOutputHeads ||
      failed(verifyCompatibleDims({type.getDimSize(2), querySeqLen})))
    return op->emitOpError("expects lse shape ?x")
           << numOutputHeads << "x" << dimToString(querySeqLen)
           << " (batch x max(Hq, Hkv) x Sq), but got " << type;
  return success();
}

/// (C16) The generated verifier checks only that `operandSegmentSizes` sums
/// to the number of operands: a generic-form op could give the key's segment
/// 0 operands and the value's 2, and every accessor would then read another
/// operand than it names. `names` are the single-operand segments, first.
static LogicalResult verifySingleOperandSegments(Operation *op,
                                                 ArrayRef<int32_t> sizes,
                                                 ArrayRef<StringRef> names) {
  for (auto [name, size] : llvm::zip_first(names, sizes))
    if (size != 1)
      return op->emitOpError("expects one '")
             << name << "' operand, but operandSegmentSizes gives it " << size;
  return success();
}

LogicalResult AttentionOp::verify() {
  // (C16) Before any accessor is trusted.
  if (failed(verifySingleOperandSegments(
          *this, getProperties().operandSegmentSizes,
          {"query", "key", "value"})))
    return failure();
  // (C15, C11) Tensors or memrefs; one or two outputs of the result types.
  if (getOutputs().empty() || getOutputs().size() > 2)
    return emitOpError("expects one or two outputs (out and optional lse), "
                       "but got ")
           << getOutputs().size();
  if (failed(verifySemantics(*this, getOutputs(), getResults())))
    return failure();

  // (C1, C2, C4, C5, C6, C7) Query, key and value.
  if (failed(verifyQueryKeyValue(*this, *this)))
    return failure();
  // (C1) Output ranks.
  if (failed(checkRank(*this, getOutputType(), "out", 4)))
    return failure();
  ShapedType lseType;
  if (Value lse = getLse()) {
    lseType = cast<ShapedType>(lse.getType());
    if (failed(checkRank(*this, lseType, "lse", 3)))
      return failure();
  }

  // (C3) Output element types.
  Type elementType = getQueryType().getElementType();
  Type outElementType = getOutputType().getElementType();
  if (failed(checkQueryTypeOrF32(*this, "out", elementType, outElementType)))
    return failure();
  if (lseType && !lseType.getElementType().isF32())
    return emitOpError("expects lse element type to be f32, but got ")
           << lseType.getElementType();

  // (C8) Batch sizes.
  SmallVector<int64_t> batchSizes = {
      getQueryType().getDimSize(0), getKeyType().getDimSize(0),
      getValueType().getDimSize(0), getOutputType().getDimSize(0)};
  if (lseType)
    batchSizes.push_back(lseType.getDimSize(0));
  if (failed(verifyCompatibleDims(batchSizes)))
    return emitOpError("expects query, key, value and outputs to have the "
                       "same batch size");

  // (C9, C10) Out B x Ho x Sq x Dv, lse B x Ho x Sq.
  if (failed(checkOutputShape(*this, *this, getOutputType(), "out")) ||
      (lseType && failed(checkLseShape(*this, *this, lseType))))
    return failure();

  // (C12, C13, C14)
  return verifyMaskAndScale(*this, *this);
}

LogicalResult AttentionGradOp::verify() {
  // (C16) Before any accessor is trusted.
  if (failed(verifySingleOperandSegments(
          *this, getProperties().operandSegmentSizes,
          {"query", "key", "value", "out", "dout", "lse"})))
    return failure();
  // (C15, C11) Tensors or memrefs; dq, dk and dv of the result types.
  if (getOutputs().size() != 3)
    return emitOpError("expects three outputs (dq, dk, dv), but got ")
           << getOutputs().size();
  if (failed(verifySemantics(*this, getOutputs(), getResults())))
    return failure();

  // (C1, C2, C5, C6, C7) Query, key and value.
  if (failed(verifyQueryKeyValue(*this, *this)))
    return failure();
  // (C1) The other ranks.
  auto outType = cast<ShapedType>(getOut().getType());
  auto doutType = cast<ShapedType>(getDout().getType());
  auto lseType = cast<ShapedType>(getLse().getType());
  SmallVector<ShapedType> gradTypes = llvm::map_to_vector(
      getOutputs(), [](Value v) { return cast<ShapedType>(v.getType()); });
  if (failed(checkRank(*this, outType, "out", 4)) ||
      failed(checkRank(*this, doutType, "dout", 4)) ||
      failed(checkRank(*this, lseType, "lse", 3)) ||
      failed(checkRank(*this, gradTypes[0], "dq", 4)) ||
      failed(checkRank(*this, gradTypes[1], "dk", 4)) ||
      failed(checkRank(*this, gradTypes[2], "dv", 4)))
    return failure();

  // (C3) out and dout: one element type, the query's or f32; lse f32.
  Type elementType = getQueryType().getElementType();
  Type outElementType = outType.getElementType();
  if (failed(checkQueryTypeOrF32(*this, "out", elementType, outElementType)))
    return failure();
  if (doutType.getElementType() != outElementType)
    return emitOpError("expects dout to have the element type of out (")
           << outElementType << "), but got " << doutType.getElementType();
  if (!lseType.getElementType().isF32())
    return emitOpError("expects lse element type to be f32, but got ")
           << lseType.getElementType();

  // (C4) Gradient element types.
  const StringRef gradNames[] = {"dq", "dk", "dv"};
  for (auto [name, type] : llvm::zip_equal(gradNames, gradTypes))
    if (failed(checkQueryTypeOrF32(*this, name, elementType,
                                   type.getElementType())))
      return failure();

  // (C8) Batch sizes.
  SmallVector<int64_t> batchSizes = {
      getQueryType().getDimSize(0), getKeyType().getDimSize(0),
      getValueType().getDimSize(0), outType.getDimSize(0),
      doutType.getDimSize(0),       lseType.getDimSize(0)};
  for (ShapedType type : gradTypes)
    batchSizes.push_back(type.getDimSize(0));
  if (failed(verifyCompatibleDims(batchSizes)))
    return emitOpError("expects every operand to have the same batch size");

  // (C9) out, dout B x Ho x Sq x Dv; lse B x Ho x Sq.
  if (failed(checkOutputShape(*this, *this, outType, "out")) ||
      failed(checkOutputShape(*this, *this, doutType, "dout")) ||
      failed(checkLseShape(*this, *this, lseType)))
    return failure();

  // (C10) Each gradient has the shape of what it differentiates.
  const StringRef sourceNames[] = {"query", "key", "value"};
  const ShapedType sourceTypes[] = {getQueryType(), getKeyType(),
                                    getValueType()};
  for (auto [name, type, sourceName, source] :
       llvm::zip_equal(gradNames, gradTypes, sourceNames, sourceTypes)) {
    if (failed(verifyCompatibleShape(type.getShape(), source.getShape())))
      return emitOpError("expects ")
             << name << " to have the shape of " << sourceName << " (" << source
             << "), but got " << type;
  }

  // (C12, C13, C14)
  return verifyMaskAndScale(*this, *this);
}
