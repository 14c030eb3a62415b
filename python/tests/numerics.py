#!/usr/bin/env python3
"""Runs sqa.attention through sqa-run and compares it with the NumPy reference.

Each case builds a module for one configuration (python/sqa/ir.py), random
inputs quantized to the element type, runs `sqa-run` and checks every output
element: |out - ref| <= tol * max(1, |ref|) + cond, with tol from
sqa.dtypes.ABS_TOLERANCE for the output type and cond the conditioning term
of `conditioning_bound` (f32 scores of magnitude |s| are only known to
|s| x 2^-24), and lse within 1e-4 (f32 scores). Prints one line per case and exits non-zero if any case fails.
"""

import argparse
import itertools
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sqa import attention_grad_reference, attention_reference, variant  # noqa: E402
from sqa.dtypes import ABS_TOLERANCE, dequantize, quantize  # noqa: E402
from sqa.reference import expand_heads, visible_keys  # noqa: E402
from sqa.tools import ToolError, run_grad_on_cpu, run_on_cpu  # noqa: E402
from sqa.variants import VARIANTS  # noqa: E402

LSE_TOLERANCE = 1e-4


def conditioning_bound(q, k, v, mask, window, scale):
    """The part of the error that the conditioning of softmax makes, per
    output element (float64 inputs, reference layouts).

    Every lowering computes scores in f32 (in log2 units, scale*log2(e)
    folded in). A score s_ij = scale * sum_d q_id k_jd is then known only to
    about u * S_ij with u = 2^-24 and S_ij = |scale| * sum_d |q_id| |k_jd|:
    its rounding and that of the scaling (u each), the subtraction of the
    row max, which carries the same error (x2). exp makes these absolute
    errors relative errors of the probabilities, up to 4u * S_i with
    S_i = max_j S_ij over the row's visible keys, and out_id, a weighted mean
    of the v_jd, moves by at most twice the largest relative weight change
    times V_id = max_j |v_jd|: 8u * S_i * V_id. The accumulation of the dot
    products in another order adds terms of the same kind that this covers
    in every measured case. With unit-scale inputs and scale 1/sqrt(D) it is
    below the f32 output tolerance; with large scores (scale 10, or f16
    inputs of magnitude 60) it dominates, and no f32 implementation can do
    better than its first factor. Returns (cond for out [B, Ho, Sq, Dv],
    4u * S_i for lse [B, Ho, Sq]): lse = max + log(sum) carries the same
    relative errors of the probabilities, in absolute terms."""
    q, k, v = expand_heads(np.abs(q), np.abs(k), np.abs(v))
    if scale is None:
        scale = 1.0 / np.sqrt(q.shape[-1])
    magnitude = np.einsum("bhid,bhjd->bhij", q, k) * abs(scale)
    visible = visible_keys(q.shape[2], k.shape[2], mask, window)
    row_scores = np.where(visible, magnitude, 0.0).max(axis=-1, initial=0.0)
    row_values = np.where(visible[None, None, :, :, None], v[:, :, None, :, :], 0.0).max(
        axis=3, initial=0.0)
    return 8 * F32_UNIT * row_scores[..., None] * row_values, 4 * F32_UNIT * row_scores


def run_case(lowering, cfg, batch, sq, skv, seed, blocks=None, magnitude=1.0, spread=None,
             growth=None):
    """`magnitude` scales the random inputs; `spread`, when given, makes
    every key the same random vector plus `spread` times noise, so that the
    scores of a row are nearly tied; `growth`, when given, scales key j by
    1 + growth * (Skv - 1 - j) / (Skv - 1), so that a row's largest scores
    grow block after block toward the first keys (the order in which the
    tensor-core kernel visits its kv-blocks: its reference max moves, and O
    is rescaled, many times per row)."""
    rng = np.random.default_rng(seed)
    shapes = {
        "q": (batch, cfg.num_query_heads, sq, cfg.head_dim),
        "k": (batch, cfg.num_kv_heads, skv, cfg.head_dim),
        "v": (batch, cfg.num_kv_heads, skv, cfg.dv),
    }
    stored, exact = {}, {}
    for name, shape in shapes.items():
        values = magnitude * rng.standard_normal(shape)
        if name == "k" and spread is not None:
            values = magnitude * (rng.standard_normal(shape[-1]) + spread * rng.standard_normal(shape))
        if name == "k" and growth is not None:
            values = values * (1.0 + growth * np.linspace(1.0, 0.0, skv))[:, None]
        stored[name], exact[name] = quantize(values, cfg.dtype)
    ref_out, ref_lse = attention_reference(
        exact["q"], exact["k"], exact["v"], cfg.mask, cfg.window, cfg.scale)

    # The destinations are filled with garbage: every element must be written.
    out_shape = (batch, cfg.num_output_heads, sq, cfg.dv)
    out_init, _ = quantize(np.full(out_shape, 7.0), cfg.output_dtype)
    lse_init = np.full(out_shape[:3], 7.0, dtype=np.float32)
    try:
        out, lse = run_on_cpu(cfg, stored["q"], stored["k"], stored["v"], lowering,
                              blocks, out_init, lse_init)
    except ToolError as error:
        return False, f"sqa-run failed: {error}"

    out = dequantize(out, cfg.output_dtype)
    if out.shape != ref_out.shape:
        return False, f"shape {out.shape} != {ref_out.shape}"
    if not np.all(np.isfinite(out)):
        return False, "non-finite output"
    # Per element: tol * max(1, |ref|), i.e. 2 ulp of the output type relative
    # to the value, and absolute near zero.
    tol = ABS_TOLERANCE[cfg.output_dtype]
    if lowering == "tensor-core":
        # P is rounded to the input element type before P V, as the A operand
        # of the tensor-core product is: that rounding bounds the error too.
        tol = max(tol, ABS_TOLERANCE[cfg.dtype])
    cond, lse_cond = conditioning_bound(exact["q"], exact["k"], exact["v"], cfg.mask, cfg.window, cfg.scale)
    bound = tol * np.maximum(1.0, np.abs(ref_out)) + cond
    excess = float((np.abs(out - ref_out) / bound).max(initial=0))
    err = float(np.abs(out - ref_out).max(initial=0))
    ok = excess <= 1.0
    detail = (f"max_err={err:.2e} tol={tol:.1e}*max(1,|ref|)+cond (cond<={float(cond.max(initial=0)):.1e})"
              f" worst={excess:.2f} of tol")
    if cfg.with_lse:
        lse = lse.astype(np.float64)
        both_inf = np.isneginf(lse) & np.isneginf(ref_lse)
        with np.errstate(invalid="ignore"):
            lse_err = np.where(both_inf, 0.0, np.abs(lse - ref_lse))
        lse_err = np.nan_to_num(lse_err, nan=np.inf)
        lse_excess = float((lse_err / (LSE_TOLERANCE + lse_cond)).max(initial=0))
        ok = ok and lse_excess <= 1.0
        detail += f" lse_err={float(lse_err.max(initial=0)):.2e} ({lse_excess:.2f} of tol)"
    return ok, detail


# The unit roundoff of f32, in which every lowering computes.
F32_UNIT = 2.0**-24
# The unit roundoff of each storage type (half an ulp at 1).
UNIT = {"f32": 2.0**-24, "f16": 2.0**-11, "bf16": 2.0**-8}


def _fold_heads(g, hq, hkv, like):
    """Sums per-output-head values back onto the heads of `like` (query:
    reverse SQA tiles; key/value: GQA groups), as the op does."""
    batch = g.shape[0]
    if like == "q":
        return g if hq >= hkv else g.reshape(batch, hkv // hq, hq, *g.shape[2:]).sum(axis=1)
    return g if hq < hkv else g.reshape(batch, hkv, hq // hkv, *g.shape[2:]).sum(axis=2)


def grad_error_bound(q, k, v, out, dout, lse, mask, window, scale, out_error, lse_error,
                     operand_unit=0.0):
    """A worst-case bound on |computed - exact| for each element of dq, dk
    and dv, by the standard forward error analysis of each step in f32
    (Higham: a length-n dot product errs by at most n u sum |a||b|, u = 2^-24),
    run on the magnitudes with NumPy, plus the errors of the op's inputs out
    and lse, which the exact gradient does not see: `out_error` and
    `lse_error` bound them per element (their rounding to the storage type,
    or the forward's own tolerance when they come from a forward):

      S  = scale q.k          eS  = (D + 1) u scale sum |q||k|
      P  = exp(S - lse)       rP  = eS + 2u |S| + lse_error + 4u   (relative)
      dP = dO.V               edP = Dv u sum |dO||V|
      Dsum = dO.O             eD  = Dv u sum |dO||O| + sum |dO| out_error
      dS = P (dP - Dsum)      edS = P (edP + eD + rP |dP - Dsum|) + 2u |dS|
      dQ = scale sum_j dS K   scale (sum_j edS |K| + (n + 1) u sum_j |dS||K|)
      dK = scale sum dS Q     likewise, n the keys or rows (and heads) summed
      dV = sum P dO           sum rP P |dO| + (n + 1) u sum P |dO|

    The tensor-core kernels round P and dS to the input type before the
    products that use them as operands (FlashAttention-2 does the same):
    `operand_unit` (that type's unit roundoff u_T) adds u_T sum P |dO| to dV
    and u_T scale sum |dS||K| (|Q|) to dQ (dK).

    It is pessimistic (errors add up as sqrt(n) in practice, not n) but
    scales with the conditioning of each element, which an absolute or
    relative tolerance alone does not."""
    u = F32_UNIT
    q, k, v, out, dout = (np.asarray(x, np.float64) for x in (q, k, v, out, dout))
    lse = np.asarray(lse, np.float64)[..., None]
    hq, hkv, d, dv_dim = q.shape[1], k.shape[1], q.shape[3], v.shape[3]
    qe, ke, ve = expand_heads(q, k, v)
    visible = visible_keys(q.shape[2], k.shape[2], mask, window)
    scores = scale * np.einsum("bhid,bhjd->bhij", qe, ke)
    e_s = (d + 1) * u * scale * np.einsum("bhid,bhjd->bhij", np.abs(qe), np.abs(ke))
    seen = np.isfinite(lse)
    with np.errstate(invalid="ignore", over="ignore"):
        probs = np.where(visible & seen, np.exp(scores - np.where(seen, lse, 0.0)), 0.0)
    r_p = e_s + 2 * u * np.abs(scores) + np.broadcast_to(lse_error, lse.shape[:3])[..., None] + 4 * u
    dp = np.einsum("bhie,bhje->bhij", dout, ve)
    e_dp = dv_dim * u * np.einsum("bhie,bhje->bhij", np.abs(dout), np.abs(ve))
    dsum = (dout * out).sum(axis=-1)[..., None]
    e_dsum = (dv_dim * u * (np.abs(dout) * np.abs(out)).sum(axis=-1)
              + (np.abs(dout) * np.broadcast_to(out_error, out.shape)).sum(axis=-1))[..., None]
    ds = probs * (dp - dsum)
    e_ds = probs * (e_dp + e_dsum + r_p * np.abs(dp - dsum)) + 2 * u * np.abs(ds)
    n_keys, n_rows = k.shape[2] + max(hkv // hq, 1), q.shape[2] * max(hq // hkv, 1)
    dq = scale * (np.einsum("bhij,bhjd->bhid", e_ds, np.abs(ke))
                  + ((n_keys + 1) * u + operand_unit)
                  * np.einsum("bhij,bhjd->bhid", np.abs(ds), np.abs(ke)))
    dk = scale * (np.einsum("bhij,bhid->bhjd", e_ds, np.abs(qe))
                  + ((n_rows + 1) * u + operand_unit)
                  * np.einsum("bhij,bhid->bhjd", np.abs(ds), np.abs(qe)))
    dv = (np.einsum("bhij,bhie->bhje", r_p * probs, np.abs(dout))
          + ((n_rows + 1) * u + operand_unit) * np.einsum("bhij,bhie->bhje", probs, np.abs(dout)))
    return (_fold_heads(dq, hq, hkv, "q"), _fold_heads(dk, hq, hkv, "k"),
            _fold_heads(dv, hq, hkv, "k"))


def run_grad_case(cfg, grad_dtype, batch, sq, skv, seed, lowering="reference", blocks=None):
    """sqa.attention_grad through sqa-run's reference lowering against
    attention_grad_reference: every element within 2 x grad_error_bound plus
    the rounding of the gradient to its own type (2 ulp of |ref|)."""
    rng = np.random.default_rng(seed)
    stored, exact = {}, {}
    shapes = {"q": (batch, cfg.num_query_heads, sq, cfg.head_dim),
              "k": (batch, cfg.num_kv_heads, skv, cfg.head_dim),
              "v": (batch, cfg.num_kv_heads, skv, cfg.dv)}
    for name, shape in shapes.items():
        stored[name], exact[name] = quantize(rng.standard_normal(shape), cfg.dtype)
    out64, lse64 = attention_reference(exact["q"], exact["k"], exact["v"], cfg.mask,
                                       cfg.window, cfg.scale)
    out_shape = (batch, cfg.num_output_heads, sq, cfg.dv)
    stored["out"], exact["out"] = quantize(out64, cfg.output_dtype)
    stored["dout"], exact["dout"] = quantize(rng.standard_normal(out_shape), cfg.output_dtype)
    lse32 = lse64.astype(np.float32)
    refs = attention_grad_reference(exact["q"], exact["k"], exact["v"], exact["dout"],
                                    cfg.mask, cfg.window, cfg.scale)
    scale = cfg.scale if cfg.scale is not None else 1.0 / np.sqrt(cfg.head_dim)
    # out and lse are the exact forward's, rounded to their storage types.
    finite_lse = np.where(np.isfinite(lse64), np.abs(lse64), 0.0)
    bounds = grad_error_bound(exact["q"], exact["k"], exact["v"], exact["out"], exact["dout"],
                              lse32, cfg.mask, cfg.window, scale,
                              UNIT[cfg.output_dtype] * np.abs(exact["out"]),
                              F32_UNIT * finite_lse,
                              UNIT[cfg.dtype] if lowering == "tensor-core" else 0.0)
    try:
        grads = run_grad_on_cpu(cfg, stored["q"], stored["k"], stored["v"], stored["out"],
                                stored["dout"], lse32, grad_dtype, lowering, blocks)
    except ToolError as error:
        return False, f"sqa-run failed: {error}"
    worst, details = 0.0, []
    for name, got, ref, bound in zip(("dq", "dk", "dv"), grads, refs, bounds):
        got = dequantize(got, grad_dtype)
        if got.shape != ref.shape:
            return False, f"{name} shape {got.shape} != {ref.shape}"
        if not np.all(np.isfinite(got)):
            return False, f"non-finite {name}"
        tol = 2 * bound + ABS_TOLERANCE[grad_dtype] * np.abs(ref)
        err = np.abs(got - ref)
        # Elements whose bound is 0 (rows and keys no row sees) must be exact.
        excess = float(np.where(tol > 0, err / np.where(tol > 0, tol, 1.0),
                                np.where(err > 0, np.inf, 0.0)).max(initial=0))
        worst = max(worst, excess)
        details.append(f"{name} max_err={float(err.max(initial=0)):.1e}")
    return worst <= 1.0, " ".join(details) + f" worst={worst:.2f} of tol"


class FullSweepCase(tuple):
    """A case that only the full sweep runs (numerics.py --sweep full,
    scripts/test.sh --full): slow emulated cases whose feature a cheaper case
    of the CI slice also reaches."""


def full_sweep(*case):
    return FullSweepCase(case)


def suite_grad():
    """The backward (sqa.attention_grad): every variant, both causal
    alignments, windows, Sq != Skv both ways, fully masked rows, a custom
    scale, Dv != D, f32/f16/bf16 inputs, f16 outputs read as f32, gradients
    in f32 and in the input type."""
    for (name, mask), (sq, skv) in zip(
            itertools.product(VARIANTS, ["none", "causal_bottom_right", "causal_top_left"]),
            itertools.cycle([(13, 13), (9, 21), (21, 9)])):
        yield variant(name, head_dim=16, mask=mask), "f32", 2, sq, skv
    yield variant("SQA", head_dim=32, window=(4, 2)), "f32", 1, 17, 25
    yield variant("rSQA", head_dim=16, mask="causal_bottom_right", window=(3, -1),
                  scale=0.3), "f32", 1, 20, 12
    yield variant("xSMQA", head_dim=32, value_head_dim=8), "f32", 2, 11, 7
    yield variant("GQA", head_dim=16, dtype="f16", mask="causal_top_left"), "f16", 1, 16, 16
    yield variant("xSQA", head_dim=16, dtype="bf16", mask="causal_bottom_right"), "bf16", 1, 16, 24
    yield variant("rSQA", head_dim=16, dtype="bf16", window=(5, 5)), "f32", 1, 15, 15
    yield variant("SQA", head_dim=16, dtype="f16", out_dtype="f32"), "f32", 1, 10, 12


def suite_grad_tensor_core():
    """The backward tensor-core kernels (convert-sqa-to-nvgpu on
    sqa.attention_grad: the dK/dV and dQ kernels), lane by lane on OpenMP
    threads: every variant, f16 and bf16, head dims 16 to 160, Dv != D, both
    causal alignments, windows, Sq != Skv both ways (fully masked rows),
    partial and skipped blocks, 1 to 4 warps, blocks 16 to 64, gradients in
    f32 and in the input type. Each case carries (rows per block, kv-block):
    the dQ kernel's warps x 16 rows and kv-block, the dK/dV kernel's warps x
    16 keys and q-block (= kv-block)."""
    dtypes = itertools.cycle(["f16", "bf16"])
    for (name, mask), (sq, skv) in zip(
            itertools.product(VARIANTS, ["none", "causal_bottom_right", "causal_top_left"]),
            itertools.cycle([(21, 21), (9, 40), (40, 9)])):
        dtype = next(dtypes)
        yield variant(name, head_dim=16, dtype=dtype, mask=mask), "f32", 1, sq, skv, (16, 16)
    yield variant("SQA", head_dim=32, dtype="f16", window=(8, 0)), "f16", 1, 45, 45, (32, 16)
    yield (variant("xSQA", head_dim=32, dtype="bf16", window=(5, 3), scale=0.3),
           "bf16", 2, 30, 37, (16, 32))
    yield (variant("rSQA", head_dim=32, dtype="f16", mask="causal_bottom_right",
                   window=(-1, 2)), "f32", 1, 33, 20, (32, 32))
    yield variant("xSMQA", head_dim=64, value_head_dim=32, dtype="f16"), "f32", 1, 40, 23, (16, 16)
    yield (variant("GQA", head_dim=32, value_head_dim=128, dtype="bf16",
                   mask="causal_bottom_right"), "f32", 1, 20, 37, (16, 16))
    yield variant("xSQA", head_dim=128, dtype="f16", window=(20, 0)), "f32", 1, 40, 40, (32, 16)
    yield (variant("SQA", head_dim=128, dtype="bf16", mask="causal_bottom_right"),
           "f32", 1, 70, 70, (32, 16))
    yield variant("rSQA", head_dim=64, dtype="f16"), "f32", 1, 64, 64, (64, 32)
    # The default dK/dV tiles at head dim 128: 4 warps, 32-row q-blocks.
    yield variant("GQA", head_dim=128, dtype="bf16"), "f32", 1, 70, 45, (64, 32)
    # Head dims 96 and 160 (the backward's largest: dK and dV take 160
    # registers per thread), Dv != D.
    yield (variant("GQA", head_dim=96, dtype="bf16", mask="causal_bottom_right"),
           "f32", 1, 50, 70, (32, 32))
    yield (variant("SQA", head_dim=160, value_head_dim=64, dtype="f16", window=(30, 0)),
           "f16", 1, 40, 45, (16, 16))


def suite_variants():
    """Every variant, causal or not, f32/f16, several sizes."""
    for name, mask, dtype, (sq, skv) in itertools.product(
            [n for n in VARIANTS if n != "lSQA"] + ["lSQA"],
            ["none", "causal_bottom_right"], ["f32", "f16"],
            [(1, 1), (17, 17), (130, 130), (17, 130), (130, 17)]):
        yield variant(name, head_dim=16, dtype=dtype, mask=mask), 2, sq, skv


def suite_masks():
    """Both causal alignments, windows, fully masked rows, lse, bf16."""
    base = variant("SQA", head_dim=32, with_lse=True)
    cases = [
        base.with_(mask="causal_top_left"),
        base.with_(mask="causal_bottom_right"),
        base.with_(window=(8, 0)),
        base.with_(window=(5, 3)),
        base.with_(window=(-1, 2)),
        base.with_(mask="causal_bottom_right", window=(16, -1)),
        base.with_(scale=0.3),
        variant("rSQA", head_dim=32, with_lse=True, mask="causal_top_left"),
        variant("xSMQA", head_dim=64, value_head_dim=32, with_lse=True),
        variant("xSQA", head_dim=16, dtype="bf16", mask="causal_bottom_right"),
        variant("rSQA", head_dim=16, dtype="bf16", window=(4, 4)),
        variant("GQA", head_dim=16, dtype="f16", out_dtype="f32"),
    ]
    # Sq > Skv with bottom-right alignment leaves the first rows fully masked.
    for cfg, (sq, skv) in itertools.product(cases, [(17, 17), (40, 9), (9, 40), (1, 33)]):
        yield cfg, 2, sq, skv


def suite_tiled():
    """The FlashAttention tiling (issue sweep): every variant, head dims 16 to
    256, sizes 1 to 1000, Sq != Skv, both causal alignments, windows,
    f32/f16/bf16, and q/kv blocks that do not divide the sequence. Each case
    carries its (q-block, kv-block)."""
    for name, mask in itertools.product(VARIANTS, ["none", "causal_bottom_right"]):
        yield variant(name, head_dim=64, dtype="f16", mask=mask), 1, 129, 129, (32, 48)
    for head_dim, dtype in itertools.product([16, 64, 80, 128, 256], ["f32", "f16", "bf16"]):
        yield (variant("SQA", head_dim=head_dim, dtype=dtype, mask="causal_top_left"),
               1, 64, 64, (16, 24))
    for sq, skv in [(1, 1), (15, 15), (64, 64), (129, 129), (1000, 1000), (15, 1000),
                    (1000, 15), (129, 64), (64, 129)]:
        yield (variant("xSQA", head_dim=16, mask="causal_bottom_right", with_lse=True),
               1, sq, skv, (64, 64))
    for sq, skv in [(1000, 1000), (15, 1000), (1000, 15)]:
        yield (variant("xSQA", head_dim=16, dtype="bf16", mask="causal_top_left"),
               1, sq, skv, (100, 30))
    yield (variant("xSMQA", head_dim=256, dtype="f16", mask="causal_bottom_right"),
           1, 1000, 1000, (128, 96))
    for window, (sq, skv) in itertools.product([(100, 0), (33, 17), (-1, 5), (7, -1)],
                                               [(129, 300), (300, 129), (1000, 1000)]):
        yield (variant("rSQA", head_dim=32, dtype="bf16", window=window, with_lse=True,
                       mask="causal_bottom_right" if window[1] == 0 else "none"),
               1, sq, skv, (40, 33))


def _variant_cases(dtypes, larger, smaller, batch, blocks):
    """Every variant at head dim 16, cycling through `dtypes`: unmasked with
    Sq > Skv, and causal (bottom-right) with Sq < Skv."""
    dtype_cycle = itertools.cycle(dtypes)
    for name, mask in itertools.product(VARIANTS, ["none", "causal_bottom_right"]):
        sizes = (larger, smaller) if mask == "none" else (smaller, larger)
        yield variant(name, head_dim=16, dtype=next(dtype_cycle), mask=mask), batch, *sizes, blocks


def _mask_cases(masks, square):
    """`masks` on 16 x 16 blocks, with (Sq, Skv) cycling through (40, 9),
    (9, 40) and (square, square): the cases at positions 0, 3, 6 ... have
    Sq > Skv, which with bottom-right alignment leaves the first rows fully
    masked."""
    for cfg, (sq, skv) in zip(masks, itertools.cycle([(40, 9), (9, 40), (square, square)])):
        yield cfg, 1, sq, skv, (16, 16)


def suite_tensor_core():
    """The tensor-core kernel itself (convert-sqa-to-nvgpu), lane by lane, on
    OpenMP threads (sqa-gpu-launch-to-openmp): every variant, f16 and bf16,
    head dims 16 to 256 (48 and 80 copied in lines of 2 chunks, 96, 160
    and 224 in lines of 4), both causal alignments, windows, lse, Dv != D, f32
    output, fully masked rows, partial and skipped blocks, 1 to 4 warps of
    16 or 32 rows (one or two row tiles; all, some or none of Q's k-steps
    held in registers, the rest read from shared memory), kv-blocks 16 to
    128. Sizes stay small: every warp-level op passes
    a barrier of all the block's threads. The CI slice leaves five slow
    cases (50-110 s each) to the full sweep, each beside a cheaper case of
    the same tiles: D 64 on kv-block 128 with Q from shared memory, D 128
    on kv-block 64, lines of 4 chunks (D 96; D 160 stays), odd multiples of
    16 (D 80; D 48 stays) and D 224 (D 64 with Dv 224 stays). Each case carries its (rows per
    block, kv-block[, rows per warp])."""
    yield from _variant_cases(["f16", "bf16"], 40, 23, 1, (32, 16))
    yield from _mask_cases([
        variant("SQA", head_dim=32, with_lse=True, mask="causal_top_left", dtype="f16"),
        variant("SQA", head_dim=32, with_lse=True, window=(8, 0), dtype="bf16"),
        variant("xSQA", head_dim=32, dtype="bf16", with_lse=True, window=(5, 3)),
        variant("xSQA", head_dim=32, dtype="f16", mask="causal_bottom_right",
                window=(16, -1), with_lse=True, out_dtype="f32"),
        variant("xSQA", head_dim=32, dtype="f16", with_lse=True, window=(-1, 2)),
        variant("rSQA", head_dim=32, dtype="bf16", with_lse=True,
                mask="causal_top_left", scale=0.3),
        variant("xSMQA", head_dim=64, value_head_dim=32, dtype="f16", with_lse=True),
        variant("xSMQA", head_dim=32, value_head_dim=128, dtype="bf16",
                mask="causal_bottom_right"),
    ], square=50)
    # The GPU pipeline's own tiles: 4 warps of 32 rows (two row tiles each),
    # FlashAttention-2's kv-blocks (128 at D <= 64, 64 at D = 128); Q held
    # in registers at D = 16, read from shared memory at each k-step at D =
    # 64 and 128 (O and S take the registers). With kv-block 32 at D = 128,
    # its first 4 of 8 k-steps are held.
    yield (variant("xSQA", head_dim=16, dtype="bf16", mask="causal_bottom_right",
                   with_lse=True), 2, 130, 130, (128, 128, 32))
    yield variant("xSMQA", head_dim=64, dtype="f16", mask="causal_top_left"), 1, 80, 97, (128, 128, 32)
    yield full_sweep(variant("xSQA", head_dim=128, dtype="bf16", window=(40, 0)), 1, 150, 90,
                     (128, 64, 32))
    yield variant("xSMQA", head_dim=128, dtype="f16", with_lse=True), 1, 70, 33, (128, 64, 32)
    yield variant("GQA", head_dim=128, dtype="f16", mask="causal_top_left"), 1, 70, 75, (128, 32, 32)
    # 16 rows per warp with 4 warps at D = 64 and 128 (Q held in registers).
    # kv-block 128 at D = 64 with two row tiles: O and S leave no registers
    # for Q, which is read from shared memory at every k-step.
    yield full_sweep(variant("GQA", head_dim=64, dtype="f16", mask="causal_bottom_right"),
                     1, 150, 200, (128, 128, 32))
    yield variant("SQA", head_dim=64, dtype="f16", mask="causal_top_left"), 1, 80, 97, (64, 64, 16)
    yield variant("GQA", head_dim=128, dtype="bf16", with_lse=True), 1, 70, 45, (64, 32, 16)
    # Two row tiles with Q held in registers (small D), Dv != D both ways,
    # and every variant's head mapping.
    yield (variant("xSMQA", head_dim=32, value_head_dim=128, dtype="f16",
                   mask="causal_bottom_right", with_lse=True), 1, 70, 50, (64, 32, 32))
    yield variant("SQA", head_dim=64, value_head_dim=32, dtype="bf16", window=(9, 4)), 1, 45, 61, (64, 16, 32)
    for cfg in (variant("rSQA", head_dim=16, dtype="f16", mask="causal_bottom_right"),
                variant("GQA", head_dim=16, dtype="bf16", with_lse=True)):
        yield cfg, 1, 50, 41, (32, 16, 32)
    # FlashAttention-2's head dims beyond 128 and those whose rows are 4
    # modulo 8 chunks of 16 bytes (96, 160: copied in lines of 4), on the
    # default tiles (32 rows per warp with kv-block 64 at D 96 and 32 at
    # 160, 16 rows with kv-block 32 at 192), and 256 on 4 warps, whose 58
    # KiB of tiles are views of dynamic shared memory.
    yield full_sweep(variant("SQA", head_dim=96, dtype="f16", mask="causal_bottom_right",
                             with_lse=True), 1, 70, 75, (128, 64, 32))
    yield variant("xSQA", head_dim=160, value_head_dim=96, dtype="bf16", window=(30, 2)), 1, 40, 50, (128, 32, 32)
    yield (variant("rSQA", head_dim=192, dtype="bf16", mask="causal_top_left",
                   with_lse=True), 1, 40, 37, (64, 32, 16))
    yield variant("GQA", head_dim=256, value_head_dim=128, dtype="f16"), 1, 70, 40, (64, 32, 16)
    # Odd multiples of 16, which FlashAttention-2 pads: 80 (5 k-steps of Q,
    # rows copied in lines of 2 chunks), and 48 with Dv 80.
    yield full_sweep(variant("SQA", head_dim=80, dtype="bf16", mask="causal_bottom_right",
                             with_lse=True), 1, 70, 75, (128, 64, 32))
    yield variant("GQA", head_dim=48, value_head_dim=80, dtype="f16", window=(20, 0)), 1, 50, 60, (128, 64, 32)
    # Head dim 224: 28 chunks per row, copied in lines of 4, 58 KiB of tiles
    # in dynamic shared memory; and as Dv beside D 64.
    yield full_sweep(variant("SQA", head_dim=224, dtype="bf16", mask="causal_bottom_right",
                             with_lse=True), 1, 40, 75, (64, 32, 16))
    yield variant("xSMQA", head_dim=64, value_head_dim=224, dtype="f16"), 1, 70, 50, (64, 32, 16)
    # Scores growing toward the first keys (up to 30 times the last keys'),
    # so that the kernel's reference max moves by more than 2^8 (in exp2
    # units) again and again, and O is rescaled by corrections that are not
    # 1: the branch that skips the rescale must not be taken then.
    yield (variant("SQA", head_dim=32, dtype="f16", with_lse=True), 1, 40, 100,
           (64, 16, 32), {"growth": 30.0})
    yield (variant("GQA", head_dim=64, dtype="bf16", mask="causal_bottom_right"), 1, 70, 130,
           (128, 32, 32), {"growth": 30.0})


def suite_conditioning():
    """Large scores, where the conditioning term of the tolerance dominates:
    f32 inputs with scale 10, f16 and bf16 inputs of magnitude 60 with nearly
    tied scores (keys one vector plus 2% noise), and a causal f32 case with
    scale 10. Each case carries its blocks (None: the lowering's default)
    and the options of its inputs."""
    yield variant("SQA", head_dim=16, dtype="f32", scale=10.0), 1, 33, 47, None, {}
    yield (variant("xSQA", head_dim=64, dtype="f32", scale=10.0, mask="causal_bottom_right"),
           1, 40, 40, None, {})
    yield variant("GQA", head_dim=16, dtype="f16"), 1, 16, 16, None, {"magnitude": 60.0, "spread": 0.02}
    yield (variant("rSQA", head_dim=32, dtype="bf16", with_lse=True), 1, 20, 33, None,
           {"magnitude": 60.0, "spread": 0.02})


SUITES = {"conditioning": suite_conditioning, "tensor-core": suite_tensor_core, "variants": suite_variants,
          "masks": suite_masks, "tiled": suite_tiled, "grad": suite_grad,
          "grad-tensor-core": suite_grad_tensor_core}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", required=True, help="the build directory")
    parser.add_argument("--suite", choices=SUITES, required=True)
    parser.add_argument("--lowering", default="reference")
    parser.add_argument("--q-block", type=int)
    parser.add_argument("--kv-block", type=int)
    parser.add_argument("--sweep", choices=("ci", "full"), default="full",
                        help="ci: skip the cases marked full_sweep (the "
                             "slice that CI runs); full: every case")
    args = parser.parse_args()

    failures = 0
    count = 0
    os.environ["SQA_BUILD_DIR"] = args.build
    skipped = 0
    for seed, case in enumerate(SUITES[args.suite]()):
        # The seed is the case's index in the full sweep, so that a case
        # draws the same inputs in both sweeps.
        if args.sweep == "ci" and isinstance(case, FullSweepCase):
            skipped += 1
            continue
        started = time.monotonic()
        blocks = None
        if args.suite in ("grad", "grad-tensor-core"):
            cfg, grad_dtype, batch, sq, skv, *extra = case
            blocks = (args.q_block or 64, args.kv_block or 64) \
                if args.lowering == "tiled" else None
            if extra:
                blocks = extra[0]
            ok, detail = run_grad_case(cfg, grad_dtype, batch, sq, skv, seed, args.lowering,
                                       blocks)
            detail = f"grads {grad_dtype}: {detail}"
        else:
            cfg, batch, sq, skv, *extra = case
            inputs = extra.pop() if extra and isinstance(extra[-1], dict) else {}
            blocks = (args.q_block or 64, args.kv_block or 64) \
                if args.q_block or args.kv_block else None
            if extra and extra[0] is not None:
                blocks = extra[0]
            ok, detail = run_case(args.lowering, cfg, batch, sq, skv, seed, blocks, **inputs)
        count += 1
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'} Hq={cfg.num_query_heads} "
              f"Hkv={cfg.num_kv_heads} D={cfg.head_dim} Dv={cfg.dv} "
              f"{cfg.dtype}->{cfg.output_dtype} mask={cfg.mask} "
              f"window={cfg.window} B={batch} Sq={sq} Skv={skv}"
              f"{f' blocks={blocks}' if blocks else ''}: {detail} "
              f"({time.monotonic() - started:.1f} s)",
              flush=True)
    print(f"{count - failures} of {count} cases passed"
          f"{f' ({skipped} left to the full sweep)' if skipped else ''}")
    return 1 if failures or not count else 0


if __name__ == "__main__":
    sys.exit(main())
