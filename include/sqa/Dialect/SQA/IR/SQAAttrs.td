//===- SQAAttrs.td - SQA attributes ------------------------*- tablegen -*-===//

#ifndef SQA_DIALECT_SQA_IR_SQAATTRS_TD
#define SQA_DIALECT_SQA_IR_SQAATTRS_TD

include "sqa/Dialect/SQA/IR/SQABase.td"
include "mlir/IR/AttrTypeBase.td"
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

def SQA_ScheduleAttr : AttrDef<SQA_Dialect, "Schedule"> {
  let mnemonic = "schedule";
  let summary = "The tile schedule of an attention op's GPU kernels";
  let description = [{
    How the GPU kernels of one `sqa.attention` or `sqa.attention_grad` are
    tiled, chosen once (`sqa-choose-schedule`) and carried on the op as the
    discardable attribute `sqa.schedule`, which every pass that builds or
    sizes a kernel (convert-sqa-to-nvgpu, the row-wise
    lowering's choice of which ops to leave to tensor cores) reads instead
    of its own options:

    - `warps`: warps per block of the forward kernel and of the backward's
      dQ kernel;
    - `kv_block`: keys per step of those kernels;
    - `warp_rows` (default 16): query rows per warp, whole m16 row tiles of
      mma.sync, so `warps * warp_rows` rows per block (FlashAttention-2's
      forward: 4 warps of 32 rows); every K and V fragment a warp loads
      feeds `warp_rows / 16` products;
    - `kv_warps`, `q_block` (`sqa.attention_grad` only): warps of the
      backward's dK/dV kernel (16 keys each) and the query rows it streams
      through per step (Q and dO in two stages).

    ```mlir
    sqa.attention ... {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 128, warp_rows = 32>}
    sqa.attention_grad ...
        {sqa.schedule = #sqa.schedule<warps = 4, kv_block = 16, kv_warps = 2, q_block = 16>}
    ```

    Constraints:
    - (S1) `warps` is in [1, 16], `kv_block` in [1, 65536] and `warp_rows`
      a multiple of 16 in [16, 64].
    - (S2) `kv_warps` and `q_block` are given together or not at all; when
      given, `kv_warps` is in [1, 16] and `q_block` in [1, 65536].

    Whether a kernel can use a schedule is the kernel's to say: the
    tensor-core kernels need blocks that are multiples of 16 up to 256 (and
    tiles that fit in shared memory).
    - (S3) `sqa.schedule` is a `#sqa.schedule` on an `sqa.attention` (without
      `kv_warps` and `q_block`) or an `sqa.attention_grad` (with them).
  }];
  let parameters = (ins "int64_t":$warps, "int64_t":$kv_block,
                        DefaultValuedParameter<"int64_t", "16">:$warp_rows,
                        DefaultValuedParameter<"int64_t", "0">:$kv_warps,
                        DefaultValuedParameter<"int64_t", "0">:$q_block);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Whether the schedule has the backward's dK/dV fields.
    bool hasBackwardFields() { return getKvWarps() != 0 || getQBlock() != 0; }
  }];
}

#endif // SQA_DIALECT_SQA_IR_SQAATTRS_TD
