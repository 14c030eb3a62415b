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
  KiB);
- mlir: the kernels of .mlir files on [B, H, S, D] tensors, as a user
  writes them (`sqa-compile FILE`: buffers of the identity layout, whose row
  stride is a constant, not the libraries' run-time strides): the forward of
  SQA 8/4 at the forward's head dims (16 to 96 in steps of 16, 128 to 256
  in steps of 32) x f16/bf16 x no mask / causal bottom-right with lse /
  causal top-left / window 100:0 (88 kernels), and the backward (f16) of
  GQA 16/4 and rSQA 4/8 at the backward's head dims (16, 32, 64, 96, 128,
  160) x causal bottom-right / window 64:0 / causal top-left (72 kernels).

With --sweep=ci (what CI runs; --sweep=full, the default, is scripts/test.sh
--full) the backward, forward and forward-large modes take one element type
per configuration, f16 and bf16 alternating, so that every head dim pair and
mask is still assembled: half the kernels.

Usage: spill_sweep.py [--sweep=ci|full] backward|forward|forward-large|mlir
                      SQA_COMPILE PTXAS OUT_DIR [OPTION...]"""

import concurrent.futures
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


def tensor(heads, dim, dtype):
    return f"tensor<?x{heads}x?x{dim}x{dtype}>" if dim else f"tensor<?x{heads}x?xf32>"


def forward_module(d, dtype, attrs, lse):
    q, kv = tensor(8, d, dtype), tensor(4, d, dtype)
    outs = [("%o", q)] + ([("%l", tensor(8, None, None))] if lse else [])
    args = ", ".join([f"%q: {q}", f"%k: {kv}", f"%v: {kv}"] + [f"{n}: {t}" for n, t in outs])
    results = ", ".join(t for _, t in outs)
    return (f"func.func @f({args}) -> ({results}) {{\n"
            f"  %r:{len(outs)} = sqa.attention ins(%q, %k, %v : {q}, {kv}, {kv}) "
            f"outs({', '.join(n for n, _ in outs)} : {results}){attrs} -> {results}\n"
            f"  return {', '.join(f'%r#{i}' for i in range(len(outs)))} : {results}\n}}\n")


def backward_module(hq, hkv, d, attrs):
    q, kv = tensor(hq, d, "f16"), tensor(hkv, d, "f16")
    o, lse = tensor(max(hq, hkv), d, "f16"), tensor(max(hq, hkv), None, None)
    return (f"func.func @g(%q: {q}, %k: {kv}, %v: {kv}, %o: {o}, %do: {o}, %l: {lse}, "
            f"%dq: {q}, %dk: {kv}, %dv: {kv}) -> ({q}, {kv}, {kv}) {{\n"
            f"  %r:3 = sqa.attention_grad ins(%q, %k, %v, %o, %do, %l : {q}, {kv}, {kv}, {o}, "
            f"{o}, {lse}) outs(%dq, %dk, %dv : {q}, {kv}, {kv}){attrs} -> {q}, {kv}, {kv}\n"
            f"  return %r#0, %r#1, %r#2 : {q}, {kv}, {kv}\n}}\n")


def compile_modules(compiler, out):
    """Writes the mlir mode's files and compiles each to PTX in `out`."""
    os.makedirs(out, exist_ok=True)
    modules = {}
    forward_masks = {"none": ("", False), "cbr": (" mask = causal_bottom_right", True),
                     "ctl": (" mask = causal_top_left", False),
                     "win": (" window = [100, 0]", False)}
    for d, dtype, mask in itertools.product((16, 32, 48, 64, 80, 96, 128, 160, 192, 224, 256),
                                            ("f16", "bf16"), forward_masks):
        modules[f"m{d}_{dtype}_{mask}"] = forward_module(d, dtype, *forward_masks[mask])
    backward_masks = {"cbr": " mask = causal_bottom_right", "win": " window = [64, 0]",
                      "ctl": " mask = causal_top_left"}
    for d, head, mask in itertools.product(GRAD_HEAD_DIMS, ("gqa", "rsqa"), backward_masks):
        hq, hkv = {"gqa": (16, 4), "rsqa": (4, 8)}[head]
        modules[f"g{d}_{head}_{mask}"] = backward_module(hq, hkv, d, backward_masks[mask])

    def compile_one(name):
        path = os.path.join(out, name + ".mlir")
        with open(path, "w") as f:
            f.write(modules[name])
        subprocess.run([compiler, path, "--chip", "sm_80", "-o", os.path.join(out, name + ".ptx")]
                       + sys.argv[5:], check=True)

    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(compile_one, modules))


def dtypes_of(index, sweep):
    """The element types of the index-th configuration in `sweep`."""
    return ("f16", "bf16") if sweep == "full" else (("f16", "bf16")[index % 2],)


def main():
    sweep = "full"
    if sys.argv[1].startswith("--sweep="):
        sweep = sys.argv.pop(1).split("=", 1)[1]
        if sweep not in ("ci", "full"):
            sys.exit(f"spill_sweep.py: --sweep={sweep}: expected ci or full")
    mode, compiler, ptxas, out = sys.argv[1:5]
    cmd = [compiler, "--emit", "library", "--library-name", "sweep", "--ptxas=none", "-o", out]
    if mode == "mlir":
        cmd = None
        compile_modules(compiler, out)
    elif mode == "backward":
        for i, (d, head, mask) in enumerate(itertools.product(GRAD_HEAD_DIMS, HEADS, MASKS)):
            for dtype in dtypes_of(i, sweep):
                cmd += ["--config", f"g{d}_{dtype}_{head}_{mask}:{HEADS[head]},d={d},"
                                    f"dtype={dtype},{MASKS[mask]}"]
        for i, ((d, dv), mask) in enumerate(itertools.product(GRAD_MIXED_HEAD_DIMS, MASKS)):
            for dtype in dtypes_of(i, sweep):
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
        for i, ((d, dv), mask) in enumerate(itertools.product(pairs, FORWARD_MASKS)):
            for dtype in dtypes_of(i, sweep):
                cmd += ["--config", f"f{d}_{dv}_{dtype}_{mask}:hq=8,hkv=4,d={d},dv={dv},"
                                    f"dtype={dtype}{FORWARD_MASKS[mask]}"]
    if cmd:
        subprocess.run(cmd + sys.argv[5:], check=True)
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
