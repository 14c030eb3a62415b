"""An independent NumPy reference for sqa.attention.

Written from the semantics in ARCHITECTURE.md (and the SQA paper's reference
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
