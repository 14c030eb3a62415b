"""PyTorch front end: `sqa_attention` and the `SparseQueryAttention` layer.

On CUDA tensors, `sqa_attention` gets the kernel of the call's
configuration (heads, head dims, dtype, mask, window, scale) from memory, a
precompiled kernel bundle on $SQA_KERNEL_PATH, or the compiler (which builds
and caches a kernel library on disk where the sqa tools exist; see
sqa.bundle), and launches it on the current stream. It is differentiable:
the backward runs sqa.attention_grad (the compiler's FlashAttention-2
backward) from the log-sum-exp that the forward saves, on CUDA tensors as the
backward entry of a kernel library (the sm_80 dK/dV and dQ kernels, f16 and
bf16), on CPU tensors through the tiled lowering.
On CPU tensors it runs the same compiler's CPU lowering through `sqa-run`
(FlashAttention tiling, JIT-compiled; for checking, not speed).
"""

import math
import warnings
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from .bundle import find_kernel
from .library import Tensor
from .tools import run_grad_on_cpu, run_on_cpu
from .variants import VARIANTS, AttentionConfig

_DTYPES = {torch.float16: "f16", torch.bfloat16: "bf16", torch.float32: "f32"}
_CAUSAL = {False: "none", True: "causal_top_left", "top_left": "causal_top_left",
           "bottom_right": "causal_bottom_right"}


# torch >= 2.4: the attention and its backward are torch.library custom ops
# with fake (meta) implementations and a registered autograd formula, so
# torch.compile, torch.export and meta tensors see them; older torch (Debian's
# 1.13) uses the autograd.Function below.
_CUSTOM_OPS = hasattr(torch.library, "custom_op") and hasattr(torch.library, "register_autograd")


def _autocast_dtype(device_type):
    """The dtype autocast runs matrix products in on `device_type`, or None
    when autocast is off there."""
    if device_type not in ("cuda", "cpu"):
        return None
    if hasattr(torch, "get_autocast_dtype"):  # torch >= 2.4
        return (torch.get_autocast_dtype(device_type)
                if torch.is_autocast_enabled(device_type) else None)
    if device_type == "cuda" and torch.is_autocast_enabled():
        return torch.get_autocast_gpu_dtype()
    if device_type == "cpu" and torch.is_autocast_cpu_enabled():
        return torch.get_autocast_cpu_dtype()
    return None


def _check_tensors(function, tensors, shape, dims, at_least=False):
    """Checks that each (name, value) of `tensors` is a torch.Tensor (a
    TypeError) with `dims` dimensions, or at least that many (a ValueError
    showing `shape`), naming `function`'s argument."""
    for name, t in tensors:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{function}: {name} must be a torch.Tensor, not {type(t).__name__}")
        if t.dim() < dims if at_least else t.dim() != dims:
            raise ValueError(f"{function}: {name} must be {shape} ({'at least ' if at_least else ''}"
                             f"{dims} dimensions), got shape {tuple(t.shape)}")


def _check_inputs(q, k, v, layout):
    tensors = (("q", q), ("k", k), ("v", v))
    _check_tensors("sqa_attention", tensors, "[batch, heads, seq, head_dim]" if layout == "bhsd"
                   else "[batch, seq, heads, head_dim]", 4)
    for name, t in tensors:
        if t.dtype not in _DTYPES:
            raise TypeError(f"sqa_attention: {name} has dtype {t.dtype}; supported: "
                            "torch.float16, torch.bfloat16, torch.float32")
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(f"sqa_attention: q, k, v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if not (q.device == k.device == v.device):
        raise ValueError(f"sqa_attention: q, k, v must be on one device, got {q.device}, {k.device}, {v.device}")
    devices = ("cuda", "cpu", "meta") if _CUSTOM_OPS else ("cuda", "cpu")
    if q.device.type not in devices:
        raise ValueError(f"sqa_attention: unsupported device {q.device} "
                         f"({', '.join(d.upper() if d != 'meta' else d for d in devices)})")


def _logical(t, layout):
    """The [batch, heads, seq, head_dim] view of `t`, with a unit last stride."""
    if t.stride(-1) != 1:
        t = t.contiguous()
    return t if layout == "bhsd" else t.transpose(1, 2)


def _positive_int(function, name, value):
    """`value` as a positive int, or a ValueError that names `function`'s
    argument `name` (a head count or dimension of 0 had divided by zero)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{function}: {name} must be a positive int, not {value!r}")
    return value


_INT64_MAX = 2**63 - 1


def _window_pair(function, name, window):
    """`window` as a (left, right) tuple of ints >= -1, or a ValueError that
    names `function`'s argument `name`."""
    if (not isinstance(window, (tuple, list)) or len(window) != 2
            or any(isinstance(w, bool) or not isinstance(w, int) or not -1 <= w <= _INT64_MAX
                   for w in window)):
        raise ValueError(f"{function}: {name} must be a pair (left, right) of ints in "
                         f"[-1, 2**63 - 1] (-1: unbounded), not {window!r}")
    return int(window[0]), int(window[1])


def _scale_value(function, name, scale):
    """`scale` as a positive finite float (what sqa.attention's verifier
    requires), or a ValueError that names `function`'s argument `name`."""
    try:
        value = float(scale)
    except (TypeError, ValueError):
        value = None
    if isinstance(scale, bool) or value is None or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{function}: {name} must be a positive finite number, not {scale!r}")
    return value


def _check_shapes(q_shape, k_shape, v_shape):
    """Checks logical [B, H, S, D] shapes against each other and returns
    (hq, hkv, dv) as they are given: ints, or under torch.compile SymInts,
    on which these checks only add relations (no size becomes a constant
    of the graph here)."""
    batch, hq, _, d = q_shape
    k_shape, v_shape = tuple(k_shape), tuple(v_shape)
    # Batch and sequence lengths may be 0 (an empty result); heads and head
    # dims may not (the op's verifier's rule, here before any IR exists).
    for name, size in (("query heads", hq), ("key/value heads", k_shape[1]),
                       ("head dim", d), ("value head dim", v_shape[3])):
        if size < 1:
            raise ValueError(f"sqa_attention: the {name} must be at least 1, got {size}")
    if k_shape[0] != batch or v_shape[0] != batch:
        raise ValueError(f"sqa_attention: batch sizes differ: q {batch}, k {k_shape[0]}, v {v_shape[0]}")
    if k_shape[3] != d:
        raise ValueError(f"sqa_attention: q and k head dims differ: {d} vs {k_shape[3]}")
    if k_shape[1] != v_shape[1] or k_shape[2] != v_shape[2]:
        raise ValueError(f"sqa_attention: k and v must have the same heads and length, got "
                         f"{k_shape} and {v_shape}")
    hkv = k_shape[1]
    if max(hq, hkv) % min(hq, hkv) != 0:
        raise ValueError(f"sqa_attention: one of the query heads ({hq}) and key/value heads "
                         f"({hkv}) must divide the other")
    return hq, hkv, v_shape[3]


def _call_params(causal, scale, window):
    """(mask, window, scale) of a call, checked: the IR's mask name, a
    (left, right) pair or None, a positive finite float or None (1/sqrt(D))."""
    if causal not in _CAUSAL:
        raise ValueError(f"sqa_attention: causal must be False, True (top-left, as SDPA's "
                         f"is_causal), 'top_left' or 'bottom_right', not {causal!r}")
    if window is not None:
        window = _window_pair("sqa_attention", "window", window)
    if scale is not None:
        scale = _scale_value("sqa_attention", "scale", scale)
    return _CAUSAL[causal], window, scale


def attention_config(q_shape, k_shape, v_shape, dtype, causal=False, scale=None, window=None):
    """The AttentionConfig (the kernel) that `sqa_attention` uses for
    logical [B, H, S, D] shapes and a torch dtype: what a kernel bundle must
    hold for such a call (see sqa.bundle)."""
    hq, hkv, dv = _check_shapes(q_shape, k_shape, v_shape)
    mask, window, scale = _call_params(causal, scale, window)
    # Plain ints: the kernel is specialized on heads and head dims, and such
    # a size read under torch.jit.trace (a 0-d tensor) must become a
    # constant of the configuration, not text in its IR. Batch and sequence
    # lengths stay out of it (run-time sizes).
    return AttentionConfig(num_query_heads=int(hq), num_kv_heads=int(hkv),
                           head_dim=int(q_shape[3]), value_head_dim=int(dv),
                           dtype=_DTYPES[dtype], mask=mask, window=window, scale=scale)


def _chip(device):
    major, minor = torch.cuda.get_device_capability(device)
    if major < 8:
        raise RuntimeError(f"sqa_attention: {torch.cuda.get_device_name(device)} is sm_{major}{minor}; "
                           "the generated kernels need sm_80 or newer")
    return f"sm_{major}{minor}"


def _descriptor(t):
    return Tensor.make(t.data_ptr(), t.shape, t.stride())


def _to_numpy(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16)
    return t.numpy()


def _from_numpy(array, dtype):
    if dtype == torch.bfloat16:
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def _forward(q, k, v, out, cfg, with_lse=False):
    """Writes attention into the logical [B, Ho, Sq, Dv] view `out`; returns
    the log-sum-exp ([B, Ho, Sq], f32) when `with_lse`."""
    if q.device.type == "cuda":
        cfg = cfg.with_(with_lse=with_lse)
        tensors = [q, k, v, out]
        lse = None
        if with_lse:
            lse = torch.empty(out.shape[:3], dtype=torch.float32, device=q.device)
            tensors.append(lse)
        with torch.cuda.device(q.device):
            library, kernel = find_kernel(cfg, _chip(q.device))
            stream = torch.cuda.current_stream(q.device).cuda_stream
            library.launch(kernel, [_descriptor(t) for t in tensors], stream)
        return lse
    result, lse = run_on_cpu(cfg.with_(with_lse=with_lse), _to_numpy(q), _to_numpy(k),
                             _to_numpy(v), lowering="tiled")
    out.copy_(_from_numpy(result, out.dtype))
    return torch.from_numpy(lse) if with_lse else None


def _backward(q, k, v, out, dout, lse, cfg):
    """(dq, dk, dv), in logical [B, H, S, D] shapes and q's dtype, with P
    recomputed from the forward's lse (FlashAttention-2's backward): on CUDA
    tensors the backward entry of a kernel library (the sm_80 dK/dV and dQ
    kernels), on the CPU sqa.attention_grad through the tiled lowering (no
    Sq x Skv value)."""
    if q.device.type == "cuda":
        grad_cfg = cfg.with_(with_lse=False, grad_dtype=cfg.dtype)
        grads = [torch.empty(t.shape, dtype=q.dtype, device=q.device) for t in (q, k, v)]
        with torch.cuda.device(q.device):
            library, kernel = find_kernel(grad_cfg, _chip(q.device))
            stream = torch.cuda.current_stream(q.device).cuda_stream
            library.launch(kernel, [_descriptor(t) for t in (q, k, v, out, dout, lse, *grads)],
                           stream)
        return tuple(grads)
    grads = run_grad_on_cpu(cfg, *(_to_numpy(t) for t in (q, k, v, out, dout)),
                            lse.numpy(), grad_dtype=cfg.dtype, lowering="tiled")
    return tuple(_from_numpy(g, q.dtype) for g in grads)


class _Attention(torch.autograd.Function):
    """The attention as an autograd node. When an input needs a gradient the
    forward also computes the log-sum-exp and saves it, so the backward
    recomputes the probabilities from it instead of rerunning the forward
    (FlashAttention's design)."""

    @staticmethod
    def forward(ctx, q, k, v, cfg, layout, return_lse):
        batch, _, sq, _ = q.shape
        ho, dv = cfg.num_output_heads, cfg.dv
        shape = (batch, ho, sq, dv) if layout == "bhsd" else (batch, sq, ho, dv)
        out = torch.empty(shape, dtype=q.dtype, device=q.device)
        needs_grad = any(ctx.needs_input_grad[:3])
        lse = _forward(q, k, v, _logical(out, layout), cfg,
                       with_lse=needs_grad or return_lse)
        ctx.cfg, ctx.layout, ctx.device = cfg, layout, q.device
        if needs_grad:
            ctx.save_for_backward(q, k, v, out, lse)
        if not return_lse:
            return out
        # The log-sum-exp is an output, not something to differentiate.
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    def backward(ctx, dout, *unused_lse_grad):
        q, k, v, out, lse = ctx.saved_tensors
        dout = _logical(dout.contiguous(), ctx.layout)
        dq, dk, dv = _AttentionBackward.apply(q, k, v, _logical(out, ctx.layout), dout, lse,
                                              ctx.cfg)
        return dq, dk, dv, None, None, None


_NO_HIGHER_ORDER = ("sqa_attention: higher-order gradients are not supported (the attention's "
                    "backward is not differentiable)")


class _AttentionBackward(torch.autograd.Function):
    """The backward as a node of its own, as sqa::attention_backward is on
    torch >= 2.4: under create_graph its gradients stay connected to q, k
    and v, so differentiating them raises instead of treating them as
    constants (a gradient penalty would silently lose its term)."""

    @staticmethod
    def forward(ctx, q, k, v, out, dout, lse, cfg):
        return _backward(q, k, v, out, dout, lse, cfg)

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError(_NO_HIGHER_ORDER)


def _layout_shape(batch, heads, seq, dim, layout):
    return (batch, heads, seq, dim) if layout == "bhsd" else (batch, seq, heads, dim)


def _op_config(q, k, v, mask, window, scale, layout):
    """The AttentionConfig of a custom-op call (tensors in `layout`)."""
    ql, kl, vl = (_logical(t, layout) for t in (q, k, v))
    causal = {"none": False, "causal_top_left": "top_left",
              "causal_bottom_right": "bottom_right"}[mask]
    return ql, kl, vl, attention_config(ql.shape, kl.shape, vl.shape, ql.dtype, causal, scale,
                                        None if window is None else tuple(window))


def _register_custom_ops():
    """Registers sqa::attention and sqa::attention_backward with
    torch.library; False (and a warning) where that fails, so that the
    autograd.Function path is used instead of breaking the import."""
    @torch.library.custom_op("sqa::attention", mutates_args=())
    def _attention_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: str,
                      window: Optional[List[int]], scale: Optional[float], layout: str,
                      with_lse: bool) -> Tuple[torch.Tensor, torch.Tensor]:
        """sqa_attention as a custom op: (out, lse); lse is empty unless
        with_lse."""
        ql, kl, vl, cfg = _op_config(q, k, v, mask, window, scale, layout)
        batch, _, sq, _ = ql.shape
        out = torch.empty(_layout_shape(batch, cfg.num_output_heads, sq, cfg.dv, layout),
                          dtype=q.dtype, device=q.device)
        lse = _forward(ql, kl, vl, _logical(out, layout), cfg, with_lse=with_lse)
        if lse is None:
            lse = torch.empty((0,), dtype=torch.float32, device=q.device)
        return out, lse

    @_attention_op.register_fake
    def _attention_fake(q, k, v, mask, window, scale, layout, with_lse):
        # Symbolic in every size (no AttentionConfig, whose ints would make
        # the head counts, and any size equal to one, constants of a graph).
        ql, kl, vl = (_logical(t, layout) for t in (q, k, v))
        hq, hkv, dv = _check_shapes(ql.shape, kl.shape, vl.shape)
        batch, _, sq, _ = ql.shape
        heads = torch.sym_max(hq, hkv)
        out = q.new_empty(_layout_shape(batch, heads, sq, dv, layout))
        lse_shape = (batch, heads, sq) if with_lse else (0,)
        return out, q.new_empty(lse_shape, dtype=torch.float32)

    @torch.library.custom_op("sqa::attention_backward", mutates_args=())
    def _attention_backward_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                               out: torch.Tensor, dout: torch.Tensor, lse: torch.Tensor,
                               mask: str, window: Optional[List[int]], scale: Optional[float],
                               layout: str) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(dq, dk, dv) of sqa::attention, in the layout of q, k, v."""
        ql, kl, vl, cfg = _op_config(q, k, v, mask, window, scale, layout)
        grads = _backward(ql, kl, vl, _logical(out, layout), _logical(dout.contiguous(), layout),
                          lse, cfg)
        # Back to the layout of the inputs, as fresh tensors.
        return tuple(g if layout == "bhsd" else g.transpose(1, 2).contiguous() for g in grads)

    @_attention_backward_op.register_fake
    def _attention_backward_fake(q, k, v, out, dout, lse, mask, window, scale, layout):
        # Contiguous in the inputs' layout, as the real op's (empty_like would
        # keep the strides of a non-contiguous input).
        return tuple(t.new_empty(t.shape) for t in (q, k, v))

    def _attention_setup_context(ctx, inputs, output):
        q, k, v, mask, window, scale, layout, with_lse = inputs
        out, lse = output
        # The log-sum-exp is an output, not something to differentiate.
        ctx.mark_non_differentiable(lse)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.params = (mask, window, scale, layout)
        ctx.with_lse = with_lse

    def _attention_backward(ctx, dout, unused_lse_grad):
        q, k, v, out, lse = ctx.saved_tensors
        if not ctx.with_lse:
            # The op called directly without the lse, on inputs that need
            # gradients (sqa_attention asks for it whenever they may): the
            # forward again, for the lse the backward needs.
            _, lse = torch.ops.sqa.attention(q, k, v, *ctx.params, True)
        dq, dk, dv = torch.ops.sqa.attention_backward(q, k, v, out, dout, lse, *ctx.params)
        return dq, dk, dv, None, None, None, None, None

    _attention_op.register_autograd(_attention_backward, setup_context=_attention_setup_context)

    if hasattr(_attention_op, "register_vmap"):  # torch >= 2.5
        @_attention_op.register_vmap
        def _attention_vmap(info, in_dims, q, k, v, mask, window, scale, layout, with_lse):
            # torch.vmap: the mapped dim folds into the batch, one call for
            # all (torch's fallback would call the op once per entry).
            size = info.batch_size

            def fold(t, dim):
                t = t.expand(size, *t.shape) if dim is None else t.movedim(dim, 0)
                return t.reshape(size * t.shape[1], *t.shape[2:])

            q, k, v = (fold(t, dim) for t, dim in zip((q, k, v), in_dims[:3]))
            out, lse = torch.ops.sqa.attention(q, k, v, mask, window, scale, layout, with_lse)
            out = out.reshape(size, -1, *out.shape[1:])
            if not with_lse:
                return (out, lse), (0, None)
            return (out, lse.reshape(size, -1, *lse.shape[1:])), (0, 0)

    def _no_higher_order(ctx, *grads):
        raise RuntimeError(_NO_HIGHER_ORDER)

    _attention_backward_op.register_autograd(_no_higher_order)
    return True


if _CUSTOM_OPS:
    try:
        _CUSTOM_OPS = _register_custom_ops()
    except Exception as err:  # a torch whose custom-op API differs
        warnings.warn(f"sqa: torch.library registration failed ({err}); "
                      "using an autograd.Function instead")
        _CUSTOM_OPS = False


def sqa_attention(q, k, v, causal=False, scale=None, window=None, layout="bhsd",
                  return_lse=False):
    """Attention with independent query and key/value head counts.

    q: [B, Hq, Sq, D], k: [B, Hkv, Skv, D], v: [B, Hkv, Skv, Dv] (layout
    "bhsd") or [B, S, H, D] each (layout "bshd"); float16, bfloat16 or
    float32, on one CUDA device or the CPU. Returns [B, Ho, Sq, Dv] (or
    [B, Sq, Ho, Dv]) with Ho = max(Hq, Hkv): output head h reads query head
    h and key/value head h // (Hq/Hkv) when Hq >= Hkv (GQA, SQA), query head
    h % Hq and key/value head h when Hq < Hkv (reverse SQA).

    causal: False; True or "top_left" (key j visible to row i iff j <= i,
    as SDPA's is_causal); "bottom_right" (j <= i + Skv - Sq, as
    FlashAttention). window: (left, right) keys around the bottom-right
    diagonal, -1 for unbounded. scale: default 1/sqrt(D). A row that sees
    no key gives zeros. return_lse: also return the log-sum-exp of each
    row's scaled scores, [B, Ho, Sq] float32 (-inf for a row without keys),
    as (out, lse).
    """
    if layout not in ("bhsd", "bshd"):
        raise ValueError(f"sqa_attention: layout must be 'bhsd' or 'bshd', not {layout!r}")
    _check_inputs(q, k, v, layout)
    # Under autocast, float32 inputs run in the autocast dtype (f16/bf16), as
    # SDPA's do: the tensor-core kernels take those.
    autocast = _autocast_dtype(q.device.type)
    if q.dtype == torch.float32 and autocast in (torch.float16, torch.bfloat16):
        q, k, v = (t.to(autocast) for t in (q, k, v))
    ql, kl, vl = (_logical(t, layout) for t in (q, k, v))
    if not _CUSTOM_OPS:
        cfg = attention_config(ql.shape, kl.shape, vl.shape, ql.dtype, causal, scale, window)
        return _Attention.apply(ql, kl, vl, cfg, layout, bool(return_lse))
    # The op builds the kernel's configuration from its real inputs; traced
    # (torch.compile, torch.export), the sizes here stay symbolic.
    _check_shapes(ql.shape, kl.shape, vl.shape)
    mask, window, scale = _call_params(causal, scale, window)
    # The lse is computed when returned or when a gradient may be needed.
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    with_lse = bool(return_lse) or needs_grad
    out, lse = torch.ops.sqa.attention(q, k, v, mask, None if window is None else list(window),
                                       scale, layout, with_lse)
    return (out, lse) if return_lse else out


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """torch.nn.functional.scaled_dot_product_attention's signature and
    shapes, computed by sqa_attention: query [N, ..., Hq, L, E], key and
    value [N, ..., H, S, E(v)] with the same leading dims (none, for
    [H, L, E]); is_causal is the top-left alignment, as SDPA's; key/value
    heads shared by groups of query heads as SDPA's enable_gqa (they are
    accepted whatever enable_gqa says), and also fewer query heads than
    key/value heads (reverse SQA), which SDPA does not take. attn_mask
    (arbitrary masks), dropout_p > 0 and leading dims that differ (SDPA's
    broadcasting) raise NotImplementedError."""
    if attn_mask is not None:
        raise NotImplementedError(
            "scaled_dot_product_attention: attn_mask is not supported (arbitrary masks); "
            "use is_causal, or sqa_attention(causal=..., window=...)")
    if dropout_p != 0.0:
        raise NotImplementedError(
            f"scaled_dot_product_attention: dropout_p={dropout_p!r} is not supported (only 0.0)")
    _check_tensors("scaled_dot_product_attention", (("query", query), ("key", key),
                                                    ("value", value)),
                   "[N, ..., heads, seq, head_dim]", 3, at_least=True)
    if not isinstance(is_causal, bool):
        raise ValueError(f"scaled_dot_product_attention: is_causal must be a bool, not {is_causal!r}")
    if scale is not None:
        scale = _scale_value("scaled_dot_product_attention", "scale", scale)
    leading = tuple(query.shape[:-3])
    for name, t in (("key", key), ("value", value)):
        if tuple(t.shape[:-3]) != leading:
            raise NotImplementedError(
                f"scaled_dot_product_attention: {name}'s leading dims {tuple(t.shape[:-3])} differ "
                f"from query's {leading} (broadcasting is not supported)")
    # [N, ..., H, S, D] as [N * ..., H, S, D]: the leading dims are one batch.
    q, k, v = (t.reshape(-1, *t.shape[-3:]) for t in (query, key, value))
    out = sqa_attention(q, k, v, causal=is_causal, scale=scale)
    return out.reshape(*leading, *out.shape[1:])


def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False,
                    window_size=(-1, -1), softcap=0.0, alibi_slopes=None, deterministic=False,
                    return_attn_probs=False):
    """flash_attn.flash_attn_func's signature (FlashAttention 2.6, in its
    argument order) on [B, S, H, D] tensors, computed by sqa_attention:
    causal is the bottom-right alignment and window_size = (left, right) is
    relative to the bottom-right diagonal, as FlashAttention >= 2.1; query
    heads may also be fewer than key/value heads (reverse SQA). With
    return_attn_probs, returns (out, softmax_lse, None) like FlashAttention
    (softmax_lse [B, H, Sq] float32; the dropout mask it returns in third
    place does not exist here). The backward is deterministic whatever
    `deterministic` says (dQ has a kernel of its own, no atomics).
    dropout_p > 0, softcap > 0 and alibi_slopes raise NotImplementedError."""
    _check_tensors("flash_attn_func", (("q", q), ("k", k), ("v", v)),
                   "[batch, seqlen, heads, head_dim]", 4)
    if not isinstance(causal, bool):
        raise ValueError(f"flash_attn_func: causal must be a bool, not {causal!r}")
    if dropout_p != 0.0:
        raise NotImplementedError(
            f"flash_attn_func: dropout_p={dropout_p!r} is not supported (only 0.0)")
    if softcap != 0.0:
        raise NotImplementedError(
            f"flash_attn_func: softcap={softcap!r} is not supported (only 0.0)")
    if alibi_slopes is not None:
        raise NotImplementedError("flash_attn_func: alibi_slopes is not supported")
    window = _window_pair("flash_attn_func", "window_size", window_size)
    if softmax_scale is not None:
        softmax_scale = _scale_value("flash_attn_func", "softmax_scale", softmax_scale)
    result = sqa_attention(q, k, v, causal="bottom_right" if causal else False,
                           scale=softmax_scale, window=None if window == (-1, -1) else window,
                           layout="bshd",
                           return_lse=bool(return_attn_probs))
    if return_attn_probs:
        out, lse = result
        return out, lse, None
    return result


class SparseQueryAttention(nn.Module):
    """A Sparse Query Attention layer (arXiv 2510.01817).

    Projections W_Q: d_model -> Hq*head_dim, W_K and W_V: d_model ->
    Hkv*head_dim, W_O: Ho*head_dim -> d_model with Ho = max(Hq, Hkv) (Hq
    for SQA/GQA, Hkv for reverse SQA). The attention is `sqa_attention`,
    trainable on CUDA (f16/bf16) and CPU tensors.
    """

    def __init__(self, d_model, *, num_query_heads, num_kv_heads, head_dim, causal=False,
                 window=None, scale=None, bias=False, device=None, dtype=None,
                 process_group=None, load_balance=False):
        # Head counts by keyword only: positional arguments in another
        # library's order (rxlm's embed_dim, num_heads, num_groups, ...) must
        # not be silently misread; see sqa.rxlm for that layer.
        super().__init__()
        for name, value in (("d_model", d_model), ("num_query_heads", num_query_heads),
                            ("num_kv_heads", num_kv_heads), ("head_dim", head_dim)):
            _positive_int("SparseQueryAttention", name, value)
        if max(num_query_heads, num_kv_heads) % min(num_query_heads, num_kv_heads) != 0:
            raise ValueError(f"SparseQueryAttention: one of num_query_heads ({num_query_heads}) "
                             f"and num_kv_heads ({num_kv_heads}) must divide the other")
        self.d_model = d_model
        self.num_query_heads = num_query_heads
        self.num_kv_heads = num_kv_heads
        self.num_output_heads = max(num_query_heads, num_kv_heads)
        if causal not in _CAUSAL:
            raise ValueError(f"SparseQueryAttention: causal must be False, True, 'top_left' or "
                             f"'bottom_right', not {causal!r}")
        self.head_dim = head_dim
        self.causal = causal
        # Checked here, not at the first forward.
        self.window = None if window is None else _window_pair("SparseQueryAttention",
                                                               "window", window)
        self.scale = None if scale is None else _scale_value("SparseQueryAttention", "scale",
                                                             scale)
        # Context parallelism: with a process group, forward takes this
        # rank's shard of the sequence (sqa.distributed.shard_sequence's
        # order) and attends over the whole of it by ring_attention.
        self.process_group = process_group
        self.load_balance = bool(load_balance)
        if process_group is not None and (causal not in (False, True) or window is not None):
            raise ValueError("SparseQueryAttention: with a process_group, causal must be "
                             "False or True and window None (sqa.distributed.ring_attention)")
        factory = {"device": device, "dtype": dtype}
        self.q_proj = nn.Linear(d_model, num_query_heads * head_dim, bias=bias, **factory)
        self.k_proj = nn.Linear(d_model, num_kv_heads * head_dim, bias=bias, **factory)
        self.v_proj = nn.Linear(d_model, num_kv_heads * head_dim, bias=bias, **factory)
        self.o_proj = nn.Linear(self.num_output_heads * head_dim, d_model, bias=bias, **factory)

    @classmethod
    def from_variant(cls, name, d_model, baseline_heads=16, **kwargs):
        """The paper's variant `name` (MHA, GQA, MQA, SQA, sSQA, xSQA, xSMQA,
        lSQA, rSQA) of a layer of `baseline_heads` heads: head_dim is
        d_model / baseline_heads."""
        if name not in VARIANTS:
            raise ValueError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
        if d_model % baseline_heads != 0:
            raise ValueError(f"d_model {d_model} is not a multiple of {baseline_heads} heads")
        hq, hkv = VARIANTS[name]
        return cls(d_model, num_query_heads=hq, num_kv_heads=hkv,
                   head_dim=d_model // baseline_heads, **kwargs)

    def forward(self, x, memory=None):
        """x: [batch, seq, d_model]; keys and values come from `memory`
        ([batch, seq_kv, d_model]) when given, else from x. With a
        process_group, x (and memory) are this rank's sequence shards and
        so is the result."""
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"SparseQueryAttention: expected [batch, seq, {self.d_model}], "
                             f"got {tuple(x.shape)}")
        source = x if memory is None else memory
        batch, sq, _ = x.shape
        skv = source.shape[1]
        q = self.q_proj(x).view(batch, sq, self.num_query_heads, self.head_dim)
        k = self.k_proj(source).view(batch, skv, self.num_kv_heads, self.head_dim)
        v = self.v_proj(source).view(batch, skv, self.num_kv_heads, self.head_dim)
        if self.process_group is not None:
            from .distributed import ring_attention
            out = ring_attention(q, k, v, group=self.process_group, causal=self.causal,
                                 scale=self.scale, layout="bshd",
                                 load_balance=self.load_balance)
        else:
            out = sqa_attention(q, k, v, causal=self.causal, scale=self.scale,
                                window=self.window, layout="bshd")
        return self.o_proj(out.reshape(batch, sq, self.num_output_heads * self.head_dim))

    def extra_repr(self):
        return (f"d_model={self.d_model}, num_query_heads={self.num_query_heads}, "
                f"num_kv_heads={self.num_kv_heads}, head_dim={self.head_dim}, causal={self.causal}")
