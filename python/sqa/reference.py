"""An independent NumPy reference for sqa.attention and its gradients.

Written from the semantics in docs/design.md (and the SQA paper's reference
code for reverse SQA, which tiles the query heads), not from the compiler's
lowerings: heads are materialised with repeat/tile and the mask is built as a
dense boolean matrix. Everything is computed in float64.
"""

import numpy as np


def visible_keys(sq, skv, mask="none", window=None):
    """Boolean [sq, skv] matrix: may query row i attend to key j?"""
    i = np.arange(sq)[:, None]
    j = np.arange(skv)[None, :]
    diagonal = i + (skv - sq)  # bottom-right alignment
    visible = np.ones((sq, skv), dtype=bool)
    if mask == "causal_bottom_right":
        visible &= j <= diagonal
    elif mask == "causal_top_left":
        visible &= j <= i
    elif mask != "none":
        raise ValueError(f"unknown mask {mask!r}")
    if window is not None:
        left, right = window
        if left >= 0:
            visible &= j >= diagonal - left
        if right >= 0:
            visible &= j <= diagonal + right
    return visible


def expand_heads(q, k, v):
    """Returns q, k, v with Ho = max(Hq, Hkv) heads each."""
    hq, hkv = q.shape[1], k.shape[1]
    if hq >= hkv:
        if hq % hkv:
            raise ValueError("Hkv must divide Hq")
        group = hq // hkv
        return q, np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    if hkv % hq:
        raise ValueError("Hq must divide Hkv")
    # Reverse SQA: q.repeat(1, Hkv/Hq, 1, 1) in PyTorch, i.e. np.tile.
    return np.tile(q, (1, hkv // hq, 1, 1)), k, v


def attention_reference(q, k, v, mask="none", window=None, scale=None):
    """Returns (out, lse) in float64; out is [B, Ho, Sq, Dv], lse [B, Ho, Sq]."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    if scale is None:
        scale = 1.0 / np.sqrt(q.shape[-1])
    q, k, v = expand_heads(q, k, v)
    scores = np.einsum("bhid,bhjd->bhij", q, k) * scale
    visible = visible_keys(q.shape[2], k.shape[2], mask, window)
    scores = np.where(visible, scores, -np.inf)
    with np.errstate(invalid="ignore"):
        row_max = scores.max(axis=-1, keepdims=True, initial=-np.inf)
        probs = np.where(visible, np.exp(scores - row_max), 0.0)
    row_sum = probs.sum(axis=-1, keepdims=True)
    seen = row_sum > 0
    out = np.einsum("bhij,bhjd->bhid", probs, v)
    out = np.where(seen, out / np.where(seen, row_sum, 1.0), 0.0)
    with np.errstate(divide="ignore"):
        lse = np.where(seen, row_max + np.log(np.where(seen, row_sum, 1.0)), -np.inf)
    return out, lse[..., 0]


def attention_grad_reference(q, k, v, dout, mask="none", window=None, scale=None):
    """Returns (dq, dk, dv) in float64: the gradients of sum(dout * out) for
    out = attention_reference(q, k, v, ...)[0].

    Computed on the expanded heads by the textbook chain rule through the
    softmax (the probabilities recomputed here, not from an lse), then
    summed back over the heads that share a query or key/value head: the
    groups np.repeat made (GQA) or the tiles np.tile made (reverse SQA).
    """
    q, k, v, dout = (np.asarray(x, dtype=np.float64) for x in (q, k, v, dout))
    batch, hq, sq, d = q.shape
    hkv, skv = k.shape[1], k.shape[2]
    if scale is None:
        scale = 1.0 / np.sqrt(d)
    qe, ke, ve = expand_heads(q, k, v)
    visible = visible_keys(sq, skv, mask, window)
    scores = np.where(visible, np.einsum("bhid,bhjd->bhij", qe, ke) * scale, -np.inf)
    with np.errstate(invalid="ignore"):
        row_max = scores.max(axis=-1, keepdims=True, initial=-np.inf)
        probs = np.where(visible, np.exp(scores - row_max), 0.0)
    row_sum = probs.sum(axis=-1, keepdims=True)
    probs = probs / np.where(row_sum > 0, row_sum, 1.0)  # 0 in rows without keys
    dv_e = np.einsum("bhij,bhie->bhje", probs, dout)
    dp = np.einsum("bhie,bhje->bhij", dout, ve)
    ds = probs * (dp - (probs * dp).sum(axis=-1, keepdims=True))
    dq_e = scale * np.einsum("bhij,bhjd->bhid", ds, ke)
    dk_e = scale * np.einsum("bhij,bhid->bhjd", ds, qe)
    if hq >= hkv:
        group = hq // hkv
        fold = lambda g: g.reshape(batch, hkv, group, *g.shape[2:]).sum(axis=2)
        return dq_e, fold(dk_e), fold(dv_e)
    tiles = hkv // hq
    return dq_e.reshape(batch, tiles, hq, sq, d).sum(axis=1), dk_e, dv_e
