//===- SQAAttrs.td - SQA attributes ------------------------*- tablegen -*-===//

#ifndef SQA_DIALECT_SQA_IR_SQAATTRS_TD
#define SQA_DIALECT_SQA_IR_SQAATTRS_TD

include "sqa/Dialect/SQA/IR/SQABase.td"
include "mlir/IR/EnumAttr.td"

def SQA_MaskNone : I32EnumAttrCase<"none", 0>;
// Key j is visible to query i iff j <= i + Skv - Sq (FlashAttention >= 2.1).
def SQA_MaskCausalBottomRight : I32EnumAttrCase<"causal_bottom_right", 1>;
// Key j is visible to query i iff j <= i (PyTorch SDPA's is_causal).
def SQA_MaskCausalTopLeft : I32EnumAttrCase<"causal_top_left", 2>;

def SQA_MaskKind : I32EnumAttr<"MaskKind", "attention mask kind",
    [SQA_MaskNone, SQA_MaskCausalBottomRight, SQA_MaskCausalTopLeft]> {
  let cppNamespace = "::mlir::sqa";
}

#endif // SQA_DIALECT_SQA_IR_SQAATTRS_TD
