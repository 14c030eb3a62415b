"""python/sqa/tools.py: compiling through sqa-compile and running through
sqa-run from Python, and its errors."""

import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sqa import attention_reference, variant  # noqa: E402
from sqa.tools import ToolError, compile_to_ptx, run_on_cpu  # noqa: E402


class ToolsTest(unittest.TestCase):
    def test_compile_to_ptx(self):
        kernels = compile_to_ptx(variant("xSQA", dtype="bf16", mask="causal_bottom_right"))
        self.assertEqual(list(kernels), ["attention_kernel"])
        self.assertIn(".target sm_80", kernels["attention_kernel"])
        self.assertIn("ex2.approx.ftz.f32", kernels["attention_kernel"])

    def test_run_on_cpu_matches_reference(self):
        cfg = variant("rSQA", head_dim=16, mask="causal_top_left", with_lse=True)
        rng = np.random.default_rng(3)
        q = rng.standard_normal((1, 4, 20, 16)).astype(np.float32)
        k = rng.standard_normal((1, 8, 20, 16)).astype(np.float32)
        v = rng.standard_normal((1, 8, 20, 16)).astype(np.float32)
        out, lse = run_on_cpu(cfg, q, k, v, "tiled", blocks=(8, 6))
        ref, ref_lse = attention_reference(q, k, v, "causal_top_left")
        np.testing.assert_allclose(out, ref, atol=2e-5)
        np.testing.assert_allclose(lse, ref_lse, atol=1e-4)

    def test_errors_are_tool_errors(self):
        with self.assertRaisesRegex(ToolError, "dtype '<f8' does not match f32"):
            run_on_cpu(variant("MHA"), *(np.zeros((1, 16, 2, 16)) for _ in range(3)))
        with self.assertRaisesRegex(ToolError, "chip .gpu. must look like sm_80"):
            compile_to_ptx(variant("MHA"), chip="gpu")
        # A scale without a decimal spelling reaches the verifier, not the
        # parser.
        for scale, shown in ((float("nan"), "nan"), (float("-inf"), "-INF")):
            with self.assertRaisesRegex(ToolError,
                                        f"expects scale to be positive and finite, but got {shown}"):
                compile_to_ptx(variant("MHA", scale=scale))


if __name__ == "__main__":
    unittest.main()
