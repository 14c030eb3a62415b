//===- SQAOps.td - SQA operations --------------------------*- tablegen -*-===//

#ifndef SQA_DIALECT_SQA_IR_SQAOPS_TD
#define SQA_DIALECT_SQA_IR_SQAOPS_TD

include "sqa/Dialect/SQA/IR/SQABase.td"
include "sqa/Dialect/SQA/IR/SQAAttrs.td"
include "sqa/Dialect/SQA/IR/SQAInterfaces.td"
include "mlir/Interfaces/DestinationStyleOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/TilingInterface.td"
include "mlir/IR/CommonAttrConstraints.td"

def SQA_RankedTensorOrMemRef : AnyTypeOf<[AnyRankedTensor, AnyNon0RankedMemRef],
    "ranked tensor or memref">;

def SQA_AttentionOp : SQA_Op<"attention", [
    AttrSizedOperandSegments, DestinationStyleOpInterface,
    SQA_AttentionOpInterface,
    DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
    DeclareOpInterfaceMethods<TilingInterface, [
      "getLoopIteratorTypes", "getIterationDomain", "getTiledImplementation",
      "getResultTilePosition"]>]> {
  let summary = "Scaled dot-product attention with independent head counts";
  let description = [{
    Computes, for every batch `b`, output head `h` and query row `i`,

        s[j]   = scale * dot(query[b, qh(h), i, :], key[b, kvh(h), j, :])
        p[j]   = exp(s[j] - max_j' s[j']) over the keys j visible to row i
        out[b, h, i, :] = sum_j p[j] * value[b, kvh(h), j, :] / sum_j p[j]
        lse[b, h, i]    = log(sum_j exp(s[j]))

    in destination-passing style: `outs` holds the output and, when a second
    one is given, the log-sum-exp. Like linalg ops, the op has tensor
    semantics (tensor operands, one result per output, no side effects) or,
    after bufferization, buffer semantics (memref operands of any strided
    layout, no results; it reads query, key and value and writes the
    outputs).
    Scores, softmax and accumulation are f32 whatever the element type.

    Operand shapes (logical layout [batch, heads, seq, head_dim]):

    | operand | shape             |
    |---------|-------------------|
    | query   | B x Hq x Sq x D   |
    | key     | B x Hkv x Skv x D |
    | value   | B x Hkv x Skv x Dv|
    | out     | B x Ho x Sq x Dv, Ho = max(Hq, Hkv) |
    | lse     | B x Ho x Sq (f32, optional) |

    Head mapping for output head `h`:
    - Hq >= Hkv (MHA, GQA, MQA, SQA): query head `h`, key/value head
      `h / (Hq / Hkv)`: each key/value head serves Hq / Hkv consecutive query
      heads.
    - Hq < Hkv (reverse SQA): query head `h mod Hq`, key/value head `h`.

    `mask` selects which keys a query row sees (all when absent):
    - `causal_bottom_right`: key j visible to query i iff j <= i + Skv - Sq.
    - `causal_top_left`: key j visible to query i iff j <= i.
    `window = [left, right]` further restricts row i to keys
    i + Skv - Sq - left <= j <= i + Skv - Sq + right (bottom-right
    coordinates); -1 leaves a side unbounded, and so does any side wider
    than the sequences. `scale` defaults to 1/sqrt(D).
    A row with no visible key produces zeros and lse = -inf.

    `diagonal_offset(%d)` replaces the diagonal of the mask and window,
    Skv - Sq (or 0 for `causal_top_left`), by `%d`: row i sees keys
    j <= i + %d (causal) and i + %d - left <= j <= i + %d + right (window).
    Tiling the query rows produces it: a tile starting at row r0 of an op
    with diagonal offset d has diagonal offset d + r0.

    The op implements `TilingInterface` over its parallel dimensions (batch,
    output head, query row); the key dimension is a reduction that
    `sqa-tile-and-fuse` turns into an online softmax.

    Example:

    ```mlir
    %o = sqa.attention ins(%q, %k, %v : tensor<?x4x?x16xbf16>,
                                        tensor<?x4x?x16xbf16>,
                                        tensor<?x4x?x16xbf16>)
                       outs(%init : tensor<?x4x?x16xbf16>)
                       mask = causal_bottom_right -> tensor<?x4x?x16xbf16>
    ```

    Constraints:
    - (C1) query, key, value and out have rank 4; lse has rank 3.
    - (C2) query, key and value have the same element type: f16, bf16 or f32.
    - (C3) out has the query element type or f32; lse is f32.
    - (C4) the head counts Hq, Hkv and head dims D, Dv are static and positive.
    - (C5) one of Hq, Hkv divides the other.
    - (C6) key and value have the same head count and sequence length.
    - (C7) query and key have the same head dim D.
    - (C8) query, key, value and the outputs have the same batch size.
    - (C9) out has shape B x max(Hq, Hkv) x Sq x Dv.
    - (C10) lse has shape B x max(Hq, Hkv) x Sq.
    - (C11) there are one or two outputs; with tensor semantics the results
      have their types.
    - (C12) scale is positive and finite, and so is scale * log2(e) in f32.
    - (C13) window has two entries, each >= -1, and is not combined with
      `causal_top_left` (windows are in bottom-right coordinates).
    - (C14) `diagonal_offset` is given only with a causal mask or a window.
    - (C15) the operands are all tensors, and the op has tensor semantics,
      or all memrefs, and the op has buffer semantics (no results).
    - (C16) query, key and value are one operand each: in the generic form,
      `operandSegmentSizes` gives their segments size 1 and the optional
      `diagonal_offset` at most 1.

    Sizes that are dynamic are checked where they are static.
  }];

  let arguments = (ins
    SQA_RankedTensorOrMemRef:$query,
    SQA_RankedTensorOrMemRef:$key,
    SQA_RankedTensorOrMemRef:$value,
    Variadic<SQA_RankedTensorOrMemRef>:$outputs,
    Optional<Index>:$diagonal_offset,
    OptionalAttr<SQA_MaskKind>:$mask,
    OptionalAttr<DenseI64ArrayAttr>:$window,
    OptionalAttr<F32Attr>:$scale
  );
  let results = (outs Variadic<AnyRankedTensor>:$results);

  let assemblyFormat = [{
    `ins` `(` $query `,` $key `,` $value `:` type($query) `,` type($key) `,`
      type($value) `)`
    `outs` `(` $outputs `:` type($outputs) `)`
    (`mask` `=` $mask^)?
    (`diagonal_offset` `(` $diagonal_offset^ `)`)?
    (`window` `=` $window^)?
    (`scale` `=` $scale^)?
    attr-dict (`->` type($results)^)?
  }];

  let hasVerifier = 1;

  let extraClassDeclaration = [{
    ShapedType getOutputType() {
      return ::llvm::cast<ShapedType>(getOutputs().front().getType());
    }
    Value getOutput() { return getOutputs().front(); }
    /// The log-sum-exp destination, or null when the op has none.
    Value getLse() {
      return getOutputs().size() > 1 ? getOutputs()[1] : Value();
    }

    MutableOperandRange getDpsInitsMutable() { return getOutputsMutable(); }
  }];
}

def SQA_AttentionGradOp : SQA_Op<"attention_grad", [
    AttrSizedOperandSegments, DestinationStyleOpInterface,
    SQA_AttentionOpInterface,
    DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let summary = "Gradients of sqa.attention with respect to query, key and value";
  let description = [{
    The backward pass of an `sqa.attention` with the same query, key, value,
    head mapping, mask, window, diagonal offset and scale (see that op):
    given the forward's output `out`, its log-sum-exp `lse` and the gradient
    `dout` of a loss with respect to `out`, it computes the gradients `dq`,
    `dk` and `dv` of the loss with respect to query, key and value. For every
    batch `b` and output head `h`, reading query head `qh(h)` and key/value
    head `kvh(h)`, with s the scaled scores of the forward,

        p[i, j]  = exp(s[i, j] - lse[b, h, i]) for keys j visible to row i,
                   0 otherwise (and 0 in a row with lse = -inf)
        dp[i, j] = dot(dout[b, h, i, :], value[b, kvh(h), j, :])
        dsum[i]  = dot(dout[b, h, i, :], out[b, h, i, :])
        ds[i, j] = p[i, j] * (dp[i, j] - dsum[i])
        dv[b, kvh(h), j, :] += sum_i p[i, j] * dout[b, h, i, :]
        dq[b, qh(h), i, :]  += scale * sum_j ds[i, j] * key[b, kvh(h), j, :]
        dk[b, kvh(h), j, :] += scale * sum_i ds[i, j] * query[b, qh(h), i, :]

    The sums run over every output head that reads the same head: the Hq /
    Hkv query heads of a group for dk and dv (GQA, SQA, MQA), the Hkv / Hq
    output heads that tile one query head for dq (reverse SQA). `lse` must be
    the forward's (p is recomputed from it, as FlashAttention's backward
    does); a row with no visible key contributes zero. Accumulation is f32;
    the gradients are written in their own element types. Destination-passing
    style with tensor or buffer semantics, as `sqa.attention`: the `outs`
    (dq, dk, dv) are overwritten.

    Operand shapes:

    | operand    | shape                                |
    |------------|--------------------------------------|
    | query, dq  | B x Hq x Sq x D                      |
    | key, dk    | B x Hkv x Skv x D                    |
    | value, dv  | B x Hkv x Skv x Dv                   |
    | out, dout  | B x Ho x Sq x Dv, Ho = max(Hq, Hkv)  |
    | lse        | B x Ho x Sq (f32)                    |

    Example:

    ```mlir
    %dq, %dk, %dv = sqa.attention_grad
        ins(%q, %k, %v, %o, %do, %lse : tensor<?x8x?x64xf16>,
            tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16>, tensor<?x8x?x64xf16>,
            tensor<?x8x?x64xf16>, tensor<?x8x?xf32>)
        outs(%dq0, %dk0, %dv0 : tensor<?x8x?x64xf32>, tensor<?x4x?x64xf32>,
             tensor<?x4x?x64xf32>)
        mask = causal_bottom_right
        -> tensor<?x8x?x64xf32>, tensor<?x4x?x64xf32>, tensor<?x4x?x64xf32>
    ```

    Constraints:
    - (C1) query, key, value, out, dout, dq, dk and dv have rank 4; lse has
      rank 3.
    - (C2) query, key and value have the same element type: f16, bf16 or f32.
    - (C3) out and dout have the same element type, the query's or f32; lse
      is f32.
    - (C4) dq, dk and dv each have the query element type or f32.
    - (C5) the head counts Hq, Hkv and head dims D, Dv are static and
      positive.
    - (C6) one of Hq, Hkv divides the other.
    - (C7) key and value have the same head count and sequence length, and
      query and key the same head dim D.
    - (C8) every operand has the same batch size.
    - (C9) out and dout have shape B x max(Hq, Hkv) x Sq x Dv, lse
      B x max(Hq, Hkv) x Sq.
    - (C10) dq has the shape of query, dk of key and dv of value.
    - (C11) there are three outputs (dq, dk, dv); with tensor semantics the
      results have their types.
    - (C12) scale is positive and finite, and so is scale * log2(e) in f32.
    - (C13) window has two entries, each >= -1, and is not combined with
      `causal_top_left`.
    - (C14) `diagonal_offset` is given only with a causal mask or a window.
    - (C15) the operands are all tensors, and the op has tensor semantics,
      or all memrefs, and the op has buffer semantics (no results).
    - (C16) query, key, value, out, dout and lse are one operand each: in the
      generic form, `operandSegmentSizes` gives their segments size 1 and
      the optional `diagonal_offset` at most 1.

    Sizes that are dynamic are checked where they are static.
  }];

  let arguments = (ins
    SQA_RankedTensorOrMemRef:$query,
    SQA_RankedTensorOrMemRef:$key,
    SQA_RankedTensorOrMemRef:$value,
    SQA_RankedTensorOrMemRef:$out,
    SQA_RankedTensorOrMemRef:$dout,
    SQA_RankedTensorOrMemRef:$lse,
    Variadic<SQA_RankedTensorOrMemRef>:$outputs,
    Optional<Index>:$diagonal_offset,
    OptionalAttr<SQA_MaskKind>:$mask,
    OptionalAttr<DenseI64ArrayAttr>:$window,
    OptionalAttr<F32Attr>:$scale
  );
  let results = (outs Variadic<AnyRankedTensor>:$results);

  let assemblyFormat = [{
    `ins` `(` $query `,` $key `,` $value `,` $out `,` $dout `,` $lse `:`
      type($query) `,` type($key) `,` type($value) `,` type($out) `,`
      type($dout) `,` type($lse) `)`
    `outs` `(` $outputs `:` type($outputs) `)`
    (`mask` `=` $mask^)?
    (`diagonal_offset` `(` $diagonal_offset^ `)`)?
    (`window` `=` $window^)?
    (`scale` `=` $scale^)?
    attr-dict (`->` type($results)^)?
  }];

  let hasVerifier = 1;

  let extraClassDeclaration = [{
    Value getQueryGrad() { return getOutputs()[0]; }
    Value getKeyGrad() { return getOutputs()[1]; }
    Value getValueGrad() { return getOutputs()[2]; }

    MutableOperandRange getDpsInitsMutable() { return getOutputsMutable(); }
  }];
}

#endif // SQA_DIALECT_SQA_IR_SQAOPS_TD
