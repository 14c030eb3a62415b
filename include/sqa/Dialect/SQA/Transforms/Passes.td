//===- Passes.td - SQA transformation passes ---------------*- tablegen -*-===//

#ifndef SQA_DIALECT_SQA_TRANSFORMS_PASSES_TD
#define SQA_DIALECT_SQA_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def SQATileAndFusePass : Pass<"sqa-tile-and-fuse"> {
  let summary = "Tile sqa.attention (and its backward) into the FlashAttention algorithms";
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
           S = -inf where the mask hides a key     (in every visited block)
           m' = max(m, rowmax(S));  a = exp2(m - m');  P = exp2(S - m')
           l = a * l + rowsum(P);   acc = a * acc + P V_block;  m = m'

       then out = acc / l and lse = (m + log2 l) * ln 2 (0 and -inf for rows
       that see no key).

    `sqa.attention_grad` becomes FlashAttention-2's backward
    (`tileAndFuseAttentionGrad`): Dsum = rowsum(dO ∘ O) once, then

        scf.forall (batch, key/value head, kv-block)       -> dK, dV tiles
          scf.for (output heads reading the key/value head)
            scf.for (q-blocks) scf.if (the forward visits this pair)
              S = scale Q Kᵀ (masked), P = exp(S - lse), dP = dO Vᵀ,
              dS = P ∘ (dP - Dsum);  dV += Pᵀ dO;  dK += dSᵀ Q
        scf.forall (batch, query head, q-block)             -> dQ tiles
          scf.for (output heads reading the query head)
            scf.for (the kv-blocks the forward visits)
              S, P, dP, dS as above;  dQ += dS K

    with dK and dQ scaled at the end. dK and dV are held in f32 for the
    whole group of query heads (no per-head copies, no atomics), dQ in a
    second pass; every sum runs in a fixed order.

    #### Input invariant
    `sqa.attention` and `sqa.attention_grad` on tensors.

    #### Output IR
    `scf.forall` (batch, head, q-block) { `scf.for` (kv blocks) { linalg
    ops on q-block x kv-block tiles } }. The kv loop runs from the block of
    the first key visible to the tile's first row to the last key visible to
    its last row, so kv blocks that the causal mask or the window hide
    entirely are never visited; ragged tails get smaller blocks. No value
    has Sq x Skv elements. Key/value heads are selected by index arithmetic
    in the slices and indexing maps, never copied. For the backward, the
    two `scf.forall` nests above, on the same block sizes and the forward's
    kv-block schedule; its only whole-sequence temporary is Dsum
    (B x Ho x Sq).
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

def SQARaiseAttentionPass : Pass<"sqa-raise-attention"> {
  let summary = "Rewrite attention written as linalg ops into sqa.attention";
  let description = [{
    Recognises scaled dot-product attention that another compiler (or a
    frontend) wrote as linalg ops and rewrites it into `sqa.attention`, so
    that it gets the fused lowerings. The matched form, on [batch, heads,
    seq, head_dim] tensors:

        %s = linalg.generic  // S[b,h,i,j] += Q[b,qh(h),i,d] * K[b,kh(h),j,d]
               outs(linalg.fill 0.0)
        %t = linalg.generic  // optional: T = S * c, c a constant
        %p = linalg.softmax dimension(3) ins(%t)
        %o = linalg.generic  // O[b,h,i,e] += P[b,h,i,j] * V[b,kh(h),j,e]
               outs(linalg.fill 0.0)

    The head mapping may be in the indexing maps (qh(h) = h or h mod Hq,
    kh(h) = h or h floordiv G, as sqa.attention defines them) or, for GQA,
    in a head broadcast of K and V: `linalg.broadcast` of [b, Hkv, s, d] to
    [b, Hkv, G, s, d] followed by `tensor.collapse_shape` to [b, Hkv*G, s,
    d] (repeat_interleave). The raised op reads the un-broadcast K and V.
    The contractions may extend their inputs with `arith.extf`. Intermediate
    results must have no other users. The scale becomes the op's `scale`
    (1.0 without a scaling op). sqa.attention computes scores and softmax in
    f32, so raising an f16/bf16 softmax can only make it more precise.

    Also matched, the form front ends emit on heads flattened into a batch:

        %kt = linalg.transpose ins(%k) permutation = [0, 2, 1]
        %s  = linalg.batch_matmul ins(%q, %kt) outs(linalg.fill 0.0)
        %t  = linalg.generic  // optional: T = S * c
        %p  = linalg.softmax dimension(2) ins(%t)
        %o  = linalg.batch_matmul ins(%p, %v) outs(linalg.fill 0.0)

    (or the batch_matmul's transposed B map instead of the transpose, or
    linalg.matmul on one [seq, head_dim] matrix). When q, k and v are
    `tensor.collapse_shape`s that merged [batch, heads] (k and v possibly
    of a repeat_interleave broadcast, merging [batch, Hkv, G]), the op
    works on the unflattened tensors and replaces the `tensor.expand_shape`
    that unflattens the result, if any; otherwise each matrix of the batch
    is one head ([N, 1, seq, head_dim] views).

    Between Q Kᵀ and the softmax, any elementwise `linalg.generic` ops
    (fills and splat constants included) are read symbolically at an
    element (query row i, key j) of the scores: they must compute c * S,
    c a positive constant (the scale, in Q Kᵀ's generic or after it), plus,
    optionally, a causal mask: -inf (or the lowest f32) where j > i + d and
    0 elsewhere, built from `linalg.index` comparisons in any spelling
    (torch-mlir's decomposition of `scaled_dot_product_attention(is_causal=
    True)`, tril(ones) negated and masked_fill'd into zeros then added;
    IREE-style inline selects). d = Skv - Sq (static) raises to
    `mask = causal_bottom_right`, d = 0 to `causal_top_left` (PyTorch's),
    any other d >= 0 to `causal_top_left` with `diagonal_offset`. Where a
    row would see no key (d < 0), linalg.softmax gives NaN and sqa.attention
    zeros, so the form is left alone, as are masks read from a tensor
    argument (padding masks: the op has none yet), non-causal bands and
    finite mask values that do not underflow.
  }];
  let dependentDialects = ["::mlir::sqa::SQADialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // SQA_DIALECT_SQA_TRANSFORMS_PASSES_TD
