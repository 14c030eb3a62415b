#!/usr/bin/env python3
"""The main job: compile the xSQA example to PTX for sm_80 and to a kernel
library (PTX, cubin, C header, driver-API launcher), run the same
attention on the CPU with the tensor-core kernel itself (the IR that became
the PTX, one OpenMP thread per GPU thread, warp ops emulated), the tiled (FlashAttention), row-wise and reference
lowerings, and check it against NumPy."""

import argparse
import os
import re
import shutil
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

from sqa import attention_reference, variant  # noqa: E402
from sqa.dtypes import ABS_TOLERANCE, dequantize, quantize  # noqa: E402
from sqa.tools import run_on_cpu  # noqa: E402


def find_ptxas():
    return shutil.which("ptxas") or next(
        (p for p in ["/usr/local/cuda/bin/ptxas"] if os.path.exists(p)), None)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--out", default=os.path.join(ROOT, "out"))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=512)
    args = parser.parse_args()
    bindir = os.path.join(args.build, "bin")
    example = os.path.join(ROOT, "examples", "xsqa.mlir")
    os.makedirs(args.out, exist_ok=True)

    print("xSQA attention (Hq=4, Hkv=4, head dim 16, bf16, causal)")
    ptx = os.path.join(args.out, "xsqa.ptx")
    subprocess.run([os.path.join(bindir, "sqa-compile"), example, "--chip", "sm_80",
                    "--emit", "ptx", "-o", ptx], check=True)
    text = open(ptx).read()
    kernels = re.findall(r"\.entry\s+(\w+)", text)
    print(f"  PTX for sm_80: {os.path.relpath(ptx, ROOT)} ({len(text.splitlines())} lines), "
          f"kernels: {', '.join(kernels)}")
    ptxas = find_ptxas()
    if ptxas:
        res = subprocess.run([ptxas, "-arch=sm_80", "-v", ptx, "-o", os.devnull],
                             capture_output=True, text=True, check=True)
        for kernel in kernels:
            info = res.stderr.split(f"Function properties for {kernel}")[-1]
            regs = re.search(r"Used (\d+) registers", info)
            smem = re.search(r"(\d+) bytes smem", info)
            spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", info)
            print(f"  ptxas sm_80 {kernel}: {regs.group(1)} registers, "
                  f"{smem.group(1) if smem else 0} bytes shared memory, "
                  f"{spills.group(1)}/{spills.group(2)} bytes spill stores/loads")
    else:
        print("  ptxas not found: PTX not assembled")

    library = os.path.join(args.out, "xsqa_lib")
    shutil.rmtree(library, ignore_errors=True)
    subprocess.run([os.path.join(bindir, "sqa-compile"), example, "--emit", "library",
                    "--chip", "sm_80", "-o", library], check=True)
    print(f"  kernel library: {os.path.relpath(library, ROOT)}/ "
          f"({', '.join(sorted(os.listdir(library)))})")
    if shutil.which("cc"):
        subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", "-shared", "-fPIC",
                        os.path.join(library, "xsqa_lib.c"), "-ldl", "-lpthread", "-o",
                        os.path.join(args.out, "libxsqa_lib.so")], check=True)
        print("  launcher xsqa_lib.c compiled with cc into libxsqa_lib.so "
              "(no CUDA toolkit: it loads libcuda.so.1 at its first launch)")

    b, s = args.batch, args.seq
    rng = np.random.default_rng(0)
    stored, exact = {}, {}
    for name in "qkv":
        stored[name], exact[name] = quantize(rng.standard_normal((b, 4, s, 16)), "bf16")
    ref, _ = attention_reference(exact["q"], exact["k"], exact["v"], "causal_bottom_right")
    os.environ["SQA_BUILD_DIR"] = args.build
    cfg = variant("xSQA", head_dim=16, dtype="bf16", mask="causal_bottom_right")
    ok = True
    for lowering in ("tensor-core", "tiled", "rowwise", "reference"):
        out, _ = run_on_cpu(cfg, stored["q"], stored["k"], stored["v"], lowering)
        out = dequantize(out, "bf16")
        err = float(np.abs(out - ref).max())
        rel = float((np.abs(out - ref) / np.maximum(1.0, np.abs(ref))).max())
        tol = ABS_TOLERANCE["bf16"]
        ok &= rel <= tol
        print(f"  CPU ({lowering} lowering), B={b} S={s}: max abs error {err:.2e} "
              f"vs float64 NumPy ({'within' if rel <= tol else 'OUTSIDE'} "
              f"{tol:.1e} * max(1, |ref|), 2 bf16 ulp)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
