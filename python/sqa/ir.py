"""Emits sqa.attention and sqa.attention_grad modules for a configuration."""

import math
import struct

from .variants import AttentionConfig

_ELEMENT_TYPES = {"f32": "f32", "f16": "f16", "bf16": "bf16"}


def _tensor(shape, dtype):
    dims = "x".join("?" if d is None else str(d) for d in shape)
    return f"tensor<{dims}x{_ELEMENT_TYPES[dtype]}>"


def emit_attention_module(cfg: AttentionConfig, func_name: str = "attention",
                          batch=None, query_len=None, key_len=None) -> str:
    """A module with one function computing sqa.attention for `cfg`.

    Batch and sequence lengths are dynamic unless given. The function takes
    (query, key, value, out[, lse]) and returns (out[, lse]).
    """
    t = cfg.dtype
    q = _tensor((batch, cfg.num_query_heads, query_len, cfg.head_dim), t)
    k = _tensor((batch, cfg.num_kv_heads, key_len, cfg.head_dim), t)
    v = _tensor((batch, cfg.num_kv_heads, key_len, cfg.dv), t)
    o = _tensor((batch, cfg.num_output_heads, query_len, cfg.dv), cfg.output_dtype)
    outs = [o]
    if cfg.with_lse:
        outs.append(_tensor((batch, cfg.num_output_heads, query_len), "f32"))
    args = [f"%q: {q}", f"%k: {k}", f"%v: {v}", f"%out: {o}"]
    names = ["%out"]
    if cfg.with_lse:
        args.append(f"%lse: {outs[1]}")
        names.append("%lse")
    attrs = _attributes(cfg)
    result_types = ", ".join(outs)
    num = len(outs)
    result = "%r" if num == 1 else f"%r:{num}"
    returned = "%r" if num == 1 else ", ".join(f"%r#{i}" for i in range(num))
    return (
        f"func.func @{func_name}({', '.join(args)}) -> ({result_types}) {{\n"
        f"{_offset_constant(cfg)}"
        f"  {result} = sqa.attention ins(%q, %k, %v : {q}, {k}, {v})\n"
        f"      outs({', '.join(names)} : {result_types}){attrs} -> {result_types}\n"
        f"  return {returned} : {result_types}\n"
        f"}}\n"
    )


def _offset_constant(cfg: AttentionConfig) -> str:
    """The constant that the op's diagonal_offset reads, as an op line."""
    if cfg.diagonal_offset is None:
        return ""
    return f"  %offset = arith.constant {int(cfg.diagonal_offset)} : index\n"


def _attributes(cfg: AttentionConfig) -> str:
    attrs = ""
    if cfg.mask != "none":
        attrs += f" mask = {cfg.mask}"
    if cfg.diagonal_offset is not None:
        attrs += " diagonal_offset(%offset)"
    if cfg.window is not None:
        attrs += f" window = [{cfg.window[0]}, {cfg.window[1]}]"
    if cfg.scale is not None:
        attrs += f" scale = {_f32_literal(float(cfg.scale))}"
    return attrs


def _f32_literal(value: float) -> str:
    """`value` as MLIR float literal text: decimal, or for NaN and infinities
    (which have no decimal spelling) its f32 bit pattern in hex, so that the
    verifier, not the parser, says what is wrong with it."""
    if math.isfinite(value):
        return repr(value)
    return f"0x{struct.unpack('>I', struct.pack('>f', value))[0]:08X}"


def emit_attention_grad_module(cfg: AttentionConfig, grad_dtype=None,
                               func_name: str = "attention_grad") -> str:
    """A module with one function computing sqa.attention_grad for `cfg`:
    it takes (query, key, value, out, dout, lse, dq, dk, dv) and returns
    (dq, dk, dv). out and dout have cfg's output type; the gradients
    `grad_dtype` (default: the input type). Sizes are dynamic."""
    t, g = cfg.dtype, grad_dtype or cfg.dtype
    q = _tensor((None, cfg.num_query_heads, None, cfg.head_dim), t)
    k = _tensor((None, cfg.num_kv_heads, None, cfg.head_dim), t)
    v = _tensor((None, cfg.num_kv_heads, None, cfg.dv), t)
    o = _tensor((None, cfg.num_output_heads, None, cfg.dv), cfg.output_dtype)
    lse = _tensor((None, cfg.num_output_heads, None), "f32")
    dq = _tensor((None, cfg.num_query_heads, None, cfg.head_dim), g)
    dk = _tensor((None, cfg.num_kv_heads, None, cfg.head_dim), g)
    dv = _tensor((None, cfg.num_kv_heads, None, cfg.dv), g)
    results = f"{dq}, {dk}, {dv}"
    return (
        f"func.func @{func_name}(%q: {q}, %k: {k}, %v: {v}, %out: {o}, %dout: {o}, "
        f"%lse: {lse}, %dq: {dq}, %dk: {dk}, %dv: {dv}) -> ({results}) {{\n"
        f"{_offset_constant(cfg)}"
        f"  %r:3 = sqa.attention_grad ins(%q, %k, %v, %out, %dout, %lse : "
        f"{q}, {k}, {v}, {o}, {o}, {lse})\n"
        f"      outs(%dq, %dk, %dv : {results}){_attributes(cfg)} -> {results}\n"
        f"  return %r#0, %r#1, %r#2 : {results}\n"
        f"}}\n"
    )
