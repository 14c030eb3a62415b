"""The register sweep of the tensor-core kernels: builds a kernel library
with `sqa-compile --emit library`, assembles each kernel with
`ptxas -arch=sm_80 -v` and prints one line per kernel and a summary: how
many kernels, and how many spill or fail to assemble.

- backward: 132 configurations (head dims 16/32/64/96/128/160 x f16/bf16
  x GQA 16/4, rSQA 4/8, MQA 8/1 x causal bottom-right / window 64:0 /
  causal top-left with f32 gradients, and GQA with D x Dv 64 x 160, 160 x
  64, 96 x 128 and 128 x 96), 264 kernels (dK/dV and dQ each);
- forward: configurations of SQA 8/4 (D x Dv: every pair in {16, 32, 64,
  96, 128}, and 160, 192, 48 and 80 with themselves, 64 and 128; x
  f16/bf16 x no mask / causal bottom-right with lse / window 100:0 with f32
  output), one kernel each, on the default schedule unless sqa-compile
  options follow;
- forward-large: the same with head dims 224 and 256 (each with itself, 64
  and 128), whose tiles take 25 to 66 KiB (dynamic shared memory above 48
  KiB).

Usage: spill_sweep.py backward|forward|forward-large SQA_COMPILE PTXAS OUT_DIR
                      [OPTION...]"""

import itertools
import os
import re
import subprocess
import sys

HEADS = {"gqa": "hq=16,hkv=4", "rsqa": "hq=4,hkv=8", "mqa": "hq=8,hkv=1"}
MASKS = {"cbr": "mask=causal_bottom_right,grad", "win": "window=64:0,grad",
         "ctl": "mask=causal_top_left,grad=f32"}


FORWARD_MASKS = {"none": "", "cbr": ",mask=causal_bottom_right,lse",
                 "win": ",window=100:0,out=f32"}
GRAD_HEAD_DIMS = (16, 32, 64, 96, 128, 160)
# The backward's Dv != D pairs (GQA only).
GRAD_MIXED_HEAD_DIMS = ((64, 160), (160, 64), (96, 128), (128, 96))
# The forward kernel's head dims (224 and 256 are swept on their own, by
# the forward-large mode).
FORWARD_HEAD_DIMS = (16, 32, 64, 96, 128, 160, 192)
# The forward kernel's other multiples of 16 (FlashAttention-2 pads them).
ODD_HEAD_DIMS = (48, 80)


def main():
    mode, compiler, ptxas, out = sys.argv[1:5]
    cmd = [compiler, "--emit", "library", "--library-name", "sweep", "--ptxas=none", "-o", out]
    if mode == "backward":
        for d, dtype, head, mask in itertools.product(GRAD_HEAD_DIMS, ("f16", "bf16"), HEADS, MASKS):
            cmd += ["--config", f"g{d}_{dtype}_{head}_{mask}:{HEADS[head]},d={d},dtype={dtype},"
                                f"{MASKS[mask]}"]
        for (d, dv), dtype, mask in itertools.product(GRAD_MIXED_HEAD_DIMS, ("f16", "bf16"), MASKS):
            cmd += ["--config", f"g{d}_{dv}_{dtype}_gqa_{mask}:{HEADS['gqa']},d={d},dv={dv},"
                                f"dtype={dtype},{MASKS[mask]}"]
    else:
        # Every pair of head dims up to 128, and the larger ones with
        # themselves, 64 and 128 (224 and 256 in the forward-large mode).
        pairs = [(d, dv) for d in FORWARD_HEAD_DIMS for dv in FORWARD_HEAD_DIMS
                 if max(d, dv) <= 128 or d == dv or min(d, dv) in (64, 128)]
        # Head dims that are odd multiples of 16, with themselves, 64 and 128.
        pairs += [(d, dv) for odd in ODD_HEAD_DIMS
                  for d, dv in ((odd, odd), (odd, 64), (64, odd), (odd, 128), (128, odd))]
        if mode == "forward-large":
            pairs = [(d, dv) for large in (224, 256)
                     for d, dv in ((large, large), (large, 64), (64, large),
                                   (large, 128), (128, large))]
        for (d, dv), dtype, mask in itertools.product(pairs, ("f16", "bf16"), FORWARD_MASKS):
            cmd += ["--config", f"f{d}_{dv}_{dtype}_{mask}:hq=8,hkv=4,d={d},dv={dv},"
                                f"dtype={dtype}{FORWARD_MASKS[mask]}"]
    cmd += sys.argv[5:]
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
