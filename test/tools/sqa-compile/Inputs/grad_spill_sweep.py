"""The register sweep of the backward kernels: builds a kernel library of
72 backward configurations (head dims 16/32/64/128 x f16/bf16 x GQA 16/4,
rSQA 4/8, MQA 8/1 x causal bottom-right / window 64:0 / causal top-left with
f32 gradients) with `sqa-compile --emit library`, assembles each of the 144
kernels with `ptxas -arch=sm_80 -v` and prints one line per kernel and a
summary: how many kernels, and how many spill or fail to assemble.

Usage: grad_spill_sweep.py SQA_COMPILE PTXAS OUT_DIR"""

import itertools
import os
import re
import subprocess
import sys

HEADS = {"gqa": "hq=16,hkv=4", "rsqa": "hq=4,hkv=8", "mqa": "hq=8,hkv=1"}
MASKS = {"cbr": "mask=causal_bottom_right,grad", "win": "window=64:0,grad",
         "ctl": "mask=causal_top_left,grad=f32"}


def main():
    compiler, ptxas, out = sys.argv[1:4]
    cmd = [compiler, "--emit", "library", "--library-name", "sweep", "--ptxas=none", "-o", out]
    for d, dtype, head, mask in itertools.product((16, 32, 64, 128), ("f16", "bf16"),
                                                  HEADS, MASKS):
        cmd += ["--config", f"g{d}_{dtype}_{head}_{mask}:{HEADS[head]},d={d},dtype={dtype},"
                            f"{MASKS[mask]}"]
    subprocess.run(cmd, check=True)
    kernels = bad = 0
    for name in sorted(os.listdir(out)):
        if not name.endswith(".ptx"):
            continue
        proc = subprocess.run([ptxas, "-arch=sm_80", "-v", os.path.join(out, name),
                               "-o", os.devnull], capture_output=True, text=True)
        info = proc.stdout + proc.stderr
        spills = [int(n) for n in re.findall(r"(\d+) bytes spill (?:stores|loads)", info)]
        registers = re.search(r"Used (\d+) registers", info)
        kernels += 1
        bad += proc.returncode != 0 or not spills or any(spills) or not registers
        print(f"{name}: {registers.group(1) if registers else '?'} registers, "
              f"spill bytes {spills} (exit {proc.returncode})")
    print(f"{kernels} kernels, {bad} spilling or failing")


if __name__ == "__main__":
    main()
