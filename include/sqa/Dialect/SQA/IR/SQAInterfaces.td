//===- SQAInterfaces.td - SQA op interfaces ----------------*- tablegen -*-===//

#ifndef SQA_DIALECT_SQA_IR_SQAINTERFACES_TD
#define SQA_DIALECT_SQA_IR_SQAINTERFACES_TD

include "mlir/IR/OpBase.td"

def SQA_AttentionOpInterface : OpInterface<"AttentionOpInterface"> {
  let cppNamespace = "::mlir::sqa";
  let description = [{
    The attention that an op computes or differentiates: its query, key and
    value, their head mapping, and the mask, window, diagonal offset and
    scale that decide which keys a query row sees and how scores are scaled.
    `sqa.attention` and `sqa.attention_grad` implement it, and the shared
    lowering helpers (sqa/Dialect/SQA/Utils/AttentionUtils.h) take it, so the
    forward and the backward agree on these semantics by construction.
  }];
  let methods = [
    InterfaceMethod<"The query: B x Hq x Sq x D.", "::mlir::Value", "getQuery">,
    InterfaceMethod<"The key: B x Hkv x Skv x D.", "::mlir::Value", "getKey">,
    InterfaceMethod<"The value: B x Hkv x Skv x Dv.", "::mlir::Value",
                    "getValue">,
    InterfaceMethod<"The mask kind, none when absent.", "::mlir::sqa::MaskKind",
                    "getMaskKind", (ins), [{}], [{
      return $_op.getMask().value_or(::mlir::sqa::MaskKind::none);
    }]>,
    InterfaceMethod<"The window [left, right], if any.",
                    "::std::optional<::llvm::ArrayRef<int64_t>>", "getWindow">,
    InterfaceMethod<"The diagonal offset operand, or null.", "::mlir::Value",
                    "getDiagonalOffset">,
    InterfaceMethod<"The scale attribute, if any.",
                    "::std::optional<::llvm::APFloat>", "getScale">,
  ];
  let extraSharedClassDeclaration = [{
    ::mlir::ShapedType getQueryType() {
      return ::llvm::cast<::mlir::ShapedType>($_op.getQuery().getType());
    }
    ::mlir::ShapedType getKeyType() {
      return ::llvm::cast<::mlir::ShapedType>($_op.getKey().getType());
    }
    ::mlir::ShapedType getValueType() {
      return ::llvm::cast<::mlir::ShapedType>($_op.getValue().getType());
    }
    int64_t getNumQueryHeads() { return getQueryType().getDimSize(1); }
    int64_t getNumKvHeads() { return getKeyType().getDimSize(1); }
    int64_t getNumOutputHeads() {
      return std::max(getNumQueryHeads(), getNumKvHeads());
    }
    int64_t getHeadDim() { return getQueryType().getDimSize(3); }
    int64_t getValueHeadDim() { return getValueType().getDimSize(3); }
    bool isReverse() { return getNumQueryHeads() < getNumKvHeads(); }
    /// The softmax scale: the attribute, else 1/sqrt(D).
    float getScaleOrDefault() {
      if (::std::optional<::llvm::APFloat> scale = $_op.getScale())
        return scale->convertToFloat();
      return 1.0f / ::std::sqrt(static_cast<float>(getHeadDim()));
    }
    /// The scale in base 2: every lowering takes exp2(s * scale * log2(e))
    /// with this one f32 constant, and (C12) keeps it finite.
    float getScaleLog2() {
      return getScaleOrDefault() * ::llvm::numbers::log2ef;
    }
    /// Maps output head `outHead` to the query head it reads: itself, or
    /// `outHead mod Hq` for reverse SQA (the query heads tile the key/value
    /// heads).
    ::mlir::AffineExpr getQueryHeadExpr(::mlir::AffineExpr outHead) {
      if (isReverse())
        return outHead % getNumQueryHeads();
      return outHead;
    }
    /// Maps output head `outHead` to the key/value head it reads: contiguous
    /// groups of Hq / Hkv query heads share one, or itself for reverse SQA.
    ::mlir::AffineExpr getKvHeadExpr(::mlir::AffineExpr outHead) {
      if (isReverse())
        return outHead;
      return outHead.floorDiv(getNumQueryHeads() / getNumKvHeads());
    }
  }];
}

#endif // SQA_DIALECT_SQA_IR_SQAINTERFACES_TD
