#!/usr/bin/env python3
"""Peak memory of sqa-run on the CPU: the reference lowering (materialised
B x H x S x S scores) against the FlashAttention tiling (q-block x kv-block
score tiles), for one batch, one head, head dim 64, f32; with --backward, of
sqa.attention_grad (the reference backward against FlashAttention-2's).

Prints one row per (lowering, S): wall time, peak resident set size of the
sqa-run process (getrusage of the child), and the size of the inputs and of
an S x S f32 score matrix for comparison. A benchmark, not a test.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

from sqa import emit_attention_grad_module, emit_attention_module, variant  # noqa: E402

MIB = 1024.0 * 1024.0


def measure(sqa_run, module, entry, inputs, outputs, lowering, blocks):
    """Runs sqa-run in a fresh child and returns (seconds, peak RSS MiB)."""
    cmd = [sqa_run, module, "-e", entry, f"--lowering={lowering}",
           f"--q-block={blocks[0]}", f"--kv-block={blocks[1]}"]
    for path in outputs:
        cmd += ["-o", path]
    for path in inputs:
        cmd += ["-i", path]
    # Each measurement runs in its own python child so that ru_maxrss of
    # RUSAGE_CHILDREN belongs to this sqa-run alone.
    probe = ("import resource, subprocess, sys, time; t = time.time(); "
             "subprocess.run(sys.argv[1:], check=True); "
             "print(time.time() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe] + cmd, check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024.0


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sqa-run", default=os.path.join(ROOT, "build", "bin", "sqa-run"))
    parser.add_argument("--seq", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--reference-max-seq", type=int, default=16384,
                        help="skip the reference lowering above this length")
    parser.add_argument("--q-block", type=int, default=64)
    parser.add_argument("--kv-block", type=int, default=64)
    parser.add_argument("--backward", action="store_true",
                        help="measure sqa.attention_grad instead of sqa.attention")
    args = parser.parse_args()

    cfg = variant("MHA", head_dim=64).with_(num_query_heads=1, num_kv_heads=1)
    blocks = (args.q_block, args.kv_block)
    what = "backward (sqa.attention_grad)" if args.backward else "forward (sqa.attention)"
    print(f"{what}: B=1 H=1 D=64 f32, no mask; tiled blocks q={blocks[0]} kv={blocks[1]}")
    print(f"{'lowering':>10} {'S':>6} {'time s':>8} {'peak RSS MiB':>13} "
          f"{'inputs MiB':>11} {'SxS f32 MiB':>12}")
    names = ["q", "k", "v", "out", "dout", "lse", "dq", "dk", "dv"] if args.backward \
        else ["q", "k", "v", "out"]
    entry = "attention_grad" if args.backward else "attention"
    with tempfile.TemporaryDirectory() as tmp:
        module = os.path.join(tmp, "attention.mlir")
        with open(module, "w") as f:
            f.write(emit_attention_grad_module(cfg) if args.backward
                    else emit_attention_module(cfg))
        rng = np.random.default_rng(0)
        for s in args.seq:
            inputs = []
            for name in names:
                path = os.path.join(tmp, f"{name}.npy")
                shape = (1, 1, s) if name == "lse" else (1, 1, s, 64)
                # lse of scores ~ N(0, 1) over s keys: about log(s) + 1/2.
                data = (np.full(shape, np.log(s) + 0.5) if name == "lse"
                        else rng.standard_normal(shape))
                np.save(path, data.astype(np.float32))
                inputs.append(path)
            input_mib = sum(os.path.getsize(p) for p in inputs) / MIB
            outputs = [os.path.join(tmp, f"result{i}.npy")
                       for i in range(3 if args.backward else 1)]
            for lowering in ["tiled", "reference"]:
                if lowering == "reference" and s > args.reference_max_seq:
                    continue
                seconds, peak = measure(args.sqa_run, module, entry, inputs, outputs,
                                        lowering, blocks)
                print(f"{lowering:>10} {s:>6} {seconds:>8.1f} {peak:>13.1f} "
                      f"{input_mib:>11.1f} {s * s * 4 / MIB:>12.1f}", flush=True)


if __name__ == "__main__":
    main()
