"""Checks the NumPy reference itself against a per-row loop written from the
definitions, and against identities that need no second implementation."""

import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sqa import attention_grad_reference, attention_reference, variant  # noqa: E402
from sqa.dtypes import from_bf16_bits, to_bf16_bits  # noqa: E402
from sqa.reference import visible_keys  # noqa: E402


def loop_attention(q, k, v, mask, window, scale):
    """Row by row, head by head, with the head mapping of docs/design.md."""
    b, hq, sq, d = q.shape
    hkv, skv = k.shape[1], k.shape[2]
    ho = max(hq, hkv)
    out = np.zeros((b, ho, sq, v.shape[3]))
    for bi in range(b):
        for h in range(ho):
            qh = h if hq >= hkv else h % hq
            kh = h // (hq // hkv) if hq >= hkv else h
            for i in range(sq):
                keys = []
                for j in range(skv):
                    ok = True
                    if mask == "causal_bottom_right":
                        ok = j <= i + skv - sq
                    if mask == "causal_top_left":
                        ok = j <= i
                    if window is not None:
                        if window[0] >= 0 and j < i + skv - sq - window[0]:
                            ok = False
                        if window[1] >= 0 and j > i + skv - sq + window[1]:
                            ok = False
                    if ok:
                        keys.append(j)
                if not keys:
                    continue
                s = np.array([scale * q[bi, qh, i] @ k[bi, kh, j] for j in keys])
                p = np.exp(s - s.max())
                out[bi, h, i] = p @ v[bi, kh, keys] / p.sum()
    return out


class ReferenceTest(unittest.TestCase):
    def test_matches_loop(self):
        rng = np.random.default_rng(1)
        for name in ["MHA", "GQA", "xSMQA", "rSQA"]:
            for mask, window in [("none", None), ("causal_bottom_right", None),
                                 ("causal_top_left", None), ("none", (2, 1)),
                                 ("causal_bottom_right", (3, -1))]:
                for sq, skv in [(5, 5), (7, 3), (3, 7)]:
                    cfg = variant(name, head_dim=4)
                    q = rng.standard_normal((2, cfg.num_query_heads, sq, 4))
                    k = rng.standard_normal((2, cfg.num_kv_heads, skv, 4))
                    v = rng.standard_normal((2, cfg.num_kv_heads, skv, 4))
                    out, _ = attention_reference(q, k, v, mask, window, 0.7)
                    np.testing.assert_allclose(
                        out, loop_attention(q, k, v, mask, window, 0.7), atol=1e-12)

    def test_constant_query_averages_values(self):
        # With q = 0 every visible key has the same weight: out is the mean.
        v = np.random.default_rng(2).standard_normal((1, 1, 6, 3))
        out, lse = attention_reference(np.zeros((1, 1, 6, 3)), np.ones((1, 1, 6, 3)), v,
                                       "causal_top_left")
        for i in range(6):
            np.testing.assert_allclose(out[0, 0, i], v[0, 0, : i + 1].mean(axis=0))
            self.assertAlmostEqual(lse[0, 0, i], np.log(i + 1))

    def test_fully_masked_rows(self):
        out, lse = attention_reference(np.ones((1, 1, 4, 2)), np.ones((1, 1, 2, 2)),
                                       np.ones((1, 1, 2, 2)), "causal_bottom_right")
        # Bottom-right with Sq = 4 > Skv = 2: rows 0 and 1 see no key.
        np.testing.assert_array_equal(out[0, 0, :2], 0.0)
        self.assertTrue(np.all(np.isneginf(lse[0, 0, :2])))
        self.assertTrue(np.all(np.isfinite(out)))

    def test_mask_alignments(self):
        self.assertTrue((visible_keys(2, 4, "causal_bottom_right")
                         == np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)).all())
        self.assertTrue((visible_keys(2, 4, "causal_top_left")
                         == np.array([[1, 0, 0, 0], [1, 1, 0, 0]], bool)).all())

    def test_gradients_match_finite_differences(self):
        # d/dx of L = sum(dout * out) by central differences in float64: the
        # truncation error is O(eps^2) ~ 1e-12 and the rounding error
        # ~ 1e-16 / eps ~ 1e-10 relative to |L| ~ 10, so 1e-6 is loose but far
        # below any real error (a wrong head fold or scale is O(1)).
        rng = np.random.default_rng(3)
        eps = 1e-6
        # (Hq, Hkv): MHA, GQA/MQA groups, SQA, reverse SQA (two tilings).
        for (hq, hkv), mask, window, sq, skv in [
                ((2, 2), "none", None, 4, 5), ((4, 1), "causal_bottom_right", None, 5, 3),
                ((2, 1), "causal_top_left", None, 3, 6), ((1, 2), "none", (2, 0), 4, 4),
                ((2, 4), "causal_bottom_right", (1, -1), 6, 4)]:
            name = f"{hq}/{hkv}"
            q = rng.standard_normal((1, hq, sq, 3))
            k = rng.standard_normal((1, hkv, skv, 3))
            v = rng.standard_normal((1, hkv, skv, 3))
            dout = rng.standard_normal((1, max(hq, hkv), sq, 3))
            loss = lambda q, k, v: float(
                (dout * attention_reference(q, k, v, mask, window, 0.8)[0]).sum())
            grads = attention_grad_reference(q, k, v, dout, mask, window, 0.8)
            for index, (x, g) in enumerate(zip((q, k, v), grads)):
                self.assertEqual(g.shape, x.shape)
                numeric = np.zeros_like(x)
                for pos in np.ndindex(*x.shape):
                    args = [q.copy(), k.copy(), v.copy()]
                    args[index][pos] += eps
                    up = loss(*args)
                    args[index][pos] -= 2 * eps
                    numeric[pos] = (up - loss(*args)) / (2 * eps)
                np.testing.assert_allclose(g, numeric, atol=1e-6,
                                           err_msg=f"{name} {mask} d{'qkv'[index]}")

    def test_gradients_of_rows_without_keys_are_zero(self):
        # Bottom-right with Sq = 4 > Skv = 2: rows 0 and 1 see no key and
        # contribute nothing; no NaN anywhere.
        rng = np.random.default_rng(4)
        q, k, v = (rng.standard_normal(s) for s in ((1, 2, 4, 3), (1, 1, 2, 3), (1, 1, 2, 3)))
        dq, dk, dv = attention_grad_reference(q, k, v, rng.standard_normal((1, 2, 4, 3)),
                                              "causal_bottom_right")
        np.testing.assert_array_equal(dq[0, :, :2], 0.0)
        self.assertTrue(all(np.all(np.isfinite(g)) for g in (dq, dk, dv)))

    def test_bf16_rounding(self):
        # Ties go to even: 1 + 2^-8 -> 1, 1 + 3 * 2^-8 -> 1 + 2^-6.
        x = np.array([1.0, 1.00390625, 1.01171875, -2.5, 3.0e-3], np.float32)
        np.testing.assert_array_equal(from_bf16_bits(to_bf16_bits(x)),
                                      np.array([1.0, 1.0, 1.015625, -2.5, 197 * 2.0**-16], np.float32))


if __name__ == "__main__":
    unittest.main()
