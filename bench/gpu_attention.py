#!/usr/bin/env python3
"""GPU benchmark: TFLOP/s of the generated kernels next to PyTorch SDPA,
forward, or with --backward forward + backward (a training step's attention).

Shapes: FlashAttention-2's benchmark (hidden 2048, head dims 64 and 128,
sequence 512 to 16k, batch x sequence = 16k, causal and not) and the SQA
paper's (d_model 256, 16 heads of 16: MHA, GQA, MQA, SQA, sSQA, xSQA, rSQA at
1k to 131k tokens, batch 1). FLOPs: 4 * B * Ho * Sq * Skv * D, halved for
causal; the backward does 2.5 times the forward's (five products of the
forward's size instead of two), so forward + backward counts 3.5 times it.
SDPA uses the flash backend where it accepts the shape (enable_gqa where the
heads differ; none for reverse SQA), else its default.

Needs torch with a CUDA GPU; `--dry-run` prints the shapes and FLOPs only.
"""

import argparse
import datetime
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

from sqa.variants import VARIANTS  # noqa: E402


def shapes():
    """(suite, name, batch, hq, hkv, seq, head_dim, causal) rows."""
    rows = []
    for d in (64, 128):
        heads = 2048 // d
        for seq in (512, 1024, 2048, 4096, 8192, 16384):
            for causal in (False, True):
                rows.append(("FA2", "MHA", 16384 // seq, heads, heads, seq, d, causal))
    for seq in (1024, 4096, 32768, 131072):
        for name in ("MHA", "GQA", "MQA", "SQA", "sSQA", "xSQA", "rSQA"):
            hq, hkv = VARIANTS[name]
            rows.append(("SQA paper", name, 1, hq, hkv, seq, 16, False))
    return rows


def kernel_configs(dtypes=("f16", "bf16")):
    """The AttentionConfigs of every shape in each of `dtypes`, as
    sqa_attention derives them: what a kernel bundle for a machine without
    the compiler must hold (scripts/gpu_kernels.py)."""
    import torch
    from sqa.pytorch import attention_config

    torch_dtypes = {"f16": torch.float16, "bf16": torch.bfloat16}
    configs = []
    for dtype in dtypes:
        for _, _, b, hq, hkv, seq, d, causal in shapes():
            cfg = attention_config((b, hq, seq, d), (b, hkv, seq, d), (b, hkv, seq, d),
                                   torch_dtypes[dtype], causal)
            # --backward: the forward with its log-sum-exp and the backward.
            configs += [cfg, cfg.with_(with_lse=True), cfg.with_(grad_dtype=dtype)]
    return configs


def flops(batch, hq, hkv, seq, d, causal, backward=False):
    """The forward's FLOPs, or with `backward` forward + backward's (3.5x)."""
    total = 4 * batch * max(hq, hkv) * seq * seq * d
    total = total / 2 if causal else total
    return total * BACKWARD_FACTOR if backward else total


# Forward + backward over forward FLOPs: the backward's 2.5x, plus 1.
BACKWARD_FACTOR = 3.5


def time_call(torch, fn, repeats, budget_s):
    """Median seconds of `fn` over up to `repeats` runs (fewer when a run
    is slow), after one warm-up."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
        if sum(times) > budget_s:
            break
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="print shapes and FLOPs only")
    parser.add_argument("--backward", action="store_true",
                        help="time forward + backward (FLOPs 3.5x the forward's)")
    parser.add_argument("--dtype", default="bf16", choices=["f16", "bf16"])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--budget", type=float, default=5.0, help="seconds per shape and kernel")
    parser.add_argument("--suite", choices=["FA2", "SQA paper", "all"], default="all")
    parser.add_argument("--out", help="also write the table to this file")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="start no new shape after this many seconds (the rows left are "
                             "listed as not measured)")
    args = parser.parse_args()
    rows = [r for r in shapes() if args.suite in ("all", r[0])]

    lines = []
    emit = lambda line: (print(line, flush=True), lines.append(line))
    if args.dry_run:
        for suite, name, b, hq, hkv, seq, d, causal in rows:
            work = flops(b, hq, hkv, seq, d, causal, args.backward)
            emit(f"{suite:9} {name:5} B={b:<3} Hq={hq:<2} Hkv={hkv:<2} S={seq:<6} D={d:<3} "
                 f"{'causal' if causal else 'full':6} {work / 1e12:8.3f} TFLOP")
        return 0

    import torch
    from sqa.pytorch import sqa_attention

    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to measure (try --dry-run)", file=sys.stderr)
        return 1
    sdpa = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
    dtype = {"f16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    device = torch.cuda.get_device_name()
    what = ("forward + backward TFLOP/s (3.5 x 4*B*Ho*Sq*Skv*D, /2 causal)" if args.backward
            else "forward TFLOP/s (4*B*Ho*Sq*Skv*D, /2 causal)")
    emit(f"# {datetime.date.today()} {device}, torch {torch.__version__}, {args.dtype}, "
         f"{what}, median of up to {args.repeats}")
    emit(f"{'suite':9} {'variant':7} {'B':>3} {'Hq':>3} {'Hkv':>3} {'S':>6} {'D':>3} {'mask':6} "
         f"{'sqa ms':>9} {'sqa TF/s':>8} {'SDPA ms':>9} {'SDPA TF/s':>9}")
    paper_times = {}
    started = time.monotonic()
    for index, (suite, name, b, hq, hkv, seq, d, causal) in enumerate(rows):
        if args.time_limit is not None and time.monotonic() - started > args.time_limit:
            emit(f"# time limit of {args.time_limit:.0f} s reached: {len(rows) - index} of "
                 f"{len(rows)} shapes not measured")
            break
        q, k, v = (torch.randn(b, h, seq, d, device="cuda", dtype=dtype,
                               requires_grad=args.backward) for h in (hq, hkv, hkv))
        dout = torch.randn(b, max(hq, hkv), seq, d, device="cuda", dtype=dtype)
        work = flops(b, hq, hkv, seq, d, causal, args.backward)

        def step(attention):
            """The forward, or forward + backward: a function to time."""
            if not args.backward:
                return attention
            return lambda: torch.autograd.backward(attention(), dout)
        label = (f"{suite:9} {name:7} {b:3} {hq:3} {hkv:3} {seq:6} {d:3} "
                 f"{'causal' if causal else 'full':6}")
        try:
            ours = time_call(torch, step(lambda: sqa_attention(q, k, v, causal=causal)),
                             args.repeats, args.budget)
        except Exception as err:  # one failing shape must not lose the others' figures
            emit(f"{label} error: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
            del q, k, v, dout
            torch.cuda.empty_cache()
            continue
        theirs = None
        if sdpa is not None and hq >= hkv:
            kwargs = {"is_causal": causal}
            if hq != hkv:
                kwargs["enable_gqa"] = True
            try:
                theirs = time_call(torch, step(lambda: sdpa(q, k, v, **kwargs)), args.repeats,
                                   args.budget)
            except (RuntimeError, TypeError):
                theirs = None
        sdpa_cols = (f"{theirs * 1e3:9.3f} {work / theirs / 1e12:9.1f}" if theirs
                     else f"{'n/a':>9} {'n/a':>9}")
        emit(f"{label} {ours * 1e3:9.3f} {work / ours / 1e12:8.1f} {sdpa_cols}")
        if suite == "SQA paper":
            paper_times[(name, seq)] = (ours, theirs)
        del q, k, v, dout
        torch.cuda.empty_cache()
    # The SQA paper's headline: xSQA's time over GQA's (it measured 0.37 at
    # 32k and 0.30 at 131k tokens with SDPA; the FLOP ratio is 0.25).
    for seq in (32768, 131072):
        if ("xSQA", seq) in paper_times and ("GQA", seq) in paper_times:
            (x_ours, x_sdpa), (g_ours, g_sdpa) = paper_times[("xSQA", seq)], paper_times[("GQA", seq)]
            sdpa_ratio = f"{x_sdpa / g_sdpa:.2f}" if x_sdpa and g_sdpa else "n/a"
            emit(f"# xSQA/GQA time at {seq} tokens: sqa {x_ours / g_ours:.2f}, SDPA {sdpa_ratio} "
                 "(FLOP ratio 0.25)")
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
