//===- Passes.td - SQA transformation passes ---------------*- tablegen -*-===//

#ifndef SQA_DIALECT_SQA_TRANSFORMS_PASSES_TD
#define SQA_DIALECT_SQA_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def SQATileAndFusePass : Pass<"sqa-tile-and-fuse"> {
  let summary = "Tile sqa.attention into the FlashAttention algorithm";
  let description = [{
    Rewrites every `sqa.attention` into FlashAttention's loop nest, in two
    steps that are also available as functions (Transforms.h):

    1. `tileAttention`: upstream `scf::tileUsingSCF` through the op's
       `TilingInterface`, tile sizes (1, 1, q-block) over (batch, output head,
       query row), as an `scf.forall`. Each tile is an `sqa.attention` on one
       head and q-block rows, with the mask diagonal shifted to the tile.
    2. `decomposeAttention`: the tile becomes an `scf.for` over blocks of
       kv-block keys carrying the running row max `m`, row sum `l` and f32
       accumulator `acc` (online softmax, in log2 units):

           S = scale * log2(e) * Q K_blockᵀ      (q-block x kv-block)
           S = -inf where the mask hides a key     (partially masked blocks)
           m' = max(m, rowmax(S));  a = exp2(m - m');  P = exp2(S - m')
           l = a * l + rowsum(P);   acc = a * acc + P V_block;  m = m'

       then out = acc / l and lse = (m + log2 l) * ln 2 (0 and -inf for rows
       that see no key).

    #### Input invariant
    `sqa.attention` on tensors.

    #### Output IR
    `scf.forall` (batch, head, q-block) { `scf.for` (kv blocks) { linalg
    ops on q-block x kv-block tiles } }. The kv loop runs from the block of
    the first key visible to the tile's first row to the last key visible to
    its last row, so kv blocks that the causal mask or the window hide
    entirely are never visited; ragged tails get smaller blocks. No value
    has Sq x Skv elements. Key/value heads are selected by index arithmetic
    in the slices and indexing maps, never copied.
  }];
  let options = [
    Option<"queryBlock", "q-block", "int64_t", /*default=*/"64",
           "Query rows per tile">,
    Option<"keyBlock", "kv-block", "int64_t", /*default=*/"64",
           "Keys per step of the online softmax">,
  ];
  let dependentDialects = [
    "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect", "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect"
  ];
}

#endif // SQA_DIALECT_SQA_TRANSFORMS_PASSES_TD
