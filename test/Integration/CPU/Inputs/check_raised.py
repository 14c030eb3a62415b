"""Runs a raised linalg attention (Inputs/linalg-gqa.mlir: GQA 16/4, D 32,
f16 in, f32 out, scale 0.125; an optional last argument names the mask the
NumPy reference applies) through sqa-run and compares it with the NumPy
reference: out must be within 2e-5 * max(1, |ref|)."""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(sys.argv[1], "python"))
from sqa import attention_reference  # noqa: E402

sqa_run, module, workdir = sys.argv[2:5]
mask = sys.argv[5] if len(sys.argv) > 5 else "none"
rng = np.random.default_rng(0)
q = rng.standard_normal((2, 16, 64, 32)).astype(np.float16)
k = rng.standard_normal((2, 4, 80, 32)).astype(np.float16)
v = rng.standard_normal((2, 4, 80, 32)).astype(np.float16)
paths = []
for name, array in [("q", q), ("k", k), ("v", v)]:
    paths += ["-i", os.path.join(workdir, f"{name}.npy")]
    np.save(paths[-1], array)
out_path = os.path.join(workdir, "out.npy")
subprocess.run([sqa_run, module, "-e", "gqa_in_maps", "--lowering=tiled", *paths,
                "-o", out_path], check=True)
ref, _ = attention_reference(q, k, v, mask=mask, scale=0.125)
err = np.abs(np.load(out_path) - ref) / np.maximum(1.0, np.abs(ref))
print(f"raised linalg attention (mask {mask}): worst {float(err.max()):.2e} of |ref| (tolerance 2e-05)")
sys.exit(0 if err.max() <= 2e-5 else 1)
