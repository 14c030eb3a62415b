#!/usr/bin/env python3
"""Ring attention (sqa.distributed) on the CPU with gloo, measured, and a
model of the same ring on 8 GPUs over NVLink. A benchmark, not a test.

Measured (this machine): W processes (--worlds) each run the forward of
ring_attention on their shards of one attention (--heads, --seq, --dim, f32,
causal with zigzag balancing) and report, per step of the ring, the seconds
spent computing (the op on the block in hand), the seconds blocked after it
waiting for the next block, and the bytes sent; the overlap is the share of
the transfer hidden behind the compute: 1 - wait / (the same transfer timed
alone, no compute). The CPU op runs through sqa-run (a process per call), so
compute dominates here; the figures show the mechanism, not GPU speed.

Model (--model): the same ring for one attention layer on 8 GPUs, xSQA
against GQA from one baseline of 32 heads of 128 (GQA 32/8, xSQA 8/8: xSQA
has a quarter of the query heads, hence of the FLOPs, and the same key/value
heads, hence the same bytes on the ring), bf16, causal with zigzag balance,
128k to 1M tokens. Per step: compute = 4 Hq (S/W)^2 D / 2 FLOPs (causal, balanced)
at --tflops, communication = K and V of one shard (2 Hkv (S/W) D x 2 bytes) at
--link-gbs; a step takes the larger when they overlap. The defaults are
assumptions stated on the command line (an H100 SXM's attention at 60% of its
989 dense bf16 TFLOP/s, NVLink 4 at 450 GB/s one way), not measurements.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


WORKER = r"""
import datetime, json, os, sys, time
import torch, torch.distributed as dist
sys.path.insert(0, os.path.join(sys.argv[6], "python"))
import sqa.distributed as sd
rank, world, init, shape, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]), sys.argv[5]
dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world,
                        timeout=datetime.timedelta(seconds=600))
hq, hkv, s, d = shape
g = torch.Generator().manual_seed(0)
q, k, v = (torch.randn(1, h, s, d, generator=g) for h in (hq, hkv, hkv))
q, k, v = (sd.shard_sequence(t, None, 2, True) for t in (q, k, v))
# The transfer alone: one step's K and V to the next rank, no compute.
dist.barrier()
t0 = time.perf_counter()
requests, _ = sd._exchange(None, [k, v], [k, v])
for r in requests:
    r.wait()
alone = time.perf_counter() - t0
sd._PROFILE = []
dist.barrier()
t0 = time.perf_counter()
sd.ring_attention(q, k, v, causal=True, load_balance=True)
total = time.perf_counter() - t0
json.dump({"alone_s": alone, "total_s": total, "steps": sd._PROFILE}, open(out, "w"))
dist.destroy_process_group()
"""


def measure(world, shape):
    with tempfile.TemporaryDirectory() as tmp:
        procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(r), str(world),
                                   os.path.join(tmp, "init"), json.dumps(shape),
                                   os.path.join(tmp, f"rank{r}.json"), ROOT])
                 for r in range(world)]
        for p in procs:
            if p.wait() != 0:
                sys.exit(f"rank failed: {p.args[:4]}")
        return [json.load(open(os.path.join(tmp, f"rank{r}.json"))) for r in range(world)]


def model(args):
    print(f"\nModel: one attention layer, 8 GPUs in a ring, bf16, causal, zigzag; "
          f"{args.tflops:.0f} TFLOP/s attained, {args.link_gbs:.0f} GB/s per link (assumptions)")
    print(f"{'variant':8} {'Hq/Hkv':>7} {'tokens':>8} {'compute/step':>13} {'comm/step':>10} "
          f"{'bound':>8} {'layer fwd':>10}")
    world, d = 8, 128
    for name, hq, hkv in (("GQA", 32, 8), ("xSQA", 8, 8)):
        for tokens in (131072, 262144, 524288, 1048576):
            shard = tokens / world
            flops = 4 * hq * shard * shard * d / 2
            compute = flops / (args.tflops * 1e12)
            comm = 2 * hkv * shard * d * 2 / (args.link_gbs * 1e9)
            step = max(compute, comm)
            bound = "compute" if compute >= comm else "comm"
            print(f"{name:8} {hq:>3}/{hkv:<3} {tokens // 1024:>7}k {compute * 1e3:>10.2f} ms "
                  f"{comm * 1e3:>7.2f} ms {bound:>8} {step * world * 1e3:>7.1f} ms")
        # compute = 2 Hq L^2 D / F and comm = 4 Hkv L D / B meet at
        # L = 2 Hkv F / (Hq B) tokens per GPU; below it the ring waits on K/V.
        crossover = 2 * hkv * args.tflops * 1e12 / (hq * args.link_gbs * 1e9)
        print(f"{name:8} communication-bound below {crossover:,.0f} tokens per GPU "
              f"({crossover * world:,.0f} in all)")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", default="2,4")
    parser.add_argument("--heads", default="8,8", help="Hq,Hkv")
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--model", action="store_true", help="also print the GPU model")
    parser.add_argument("--model-only", action="store_true")
    parser.add_argument("--tflops", type=float, default=0.6 * 989)
    parser.add_argument("--link-gbs", type=float, default=450.0)
    args = parser.parse_args()
    print(f"# {datetime.date.today()}, {os.uname().nodename}, {os.cpu_count()} CPUs")
    if not args.model_only:
        hq, hkv = (int(x) for x in args.heads.split(","))
        shape = [hq, hkv, args.seq, args.dim]
        print(f"Measured: ring_attention forward, CPU/gloo, Hq {hq}, Hkv {hkv}, S {args.seq}, "
              f"D {args.dim}, f32, causal, zigzag")
        print(f"{'W':>2} {'rank':>4} {'step':>4} {'compute s':>10} {'wait s':>8} {'sent KiB':>9} "
              f"{'overlap':>8}")
        for world in (int(w) for w in args.worlds.split(",")):
            for rank, result in enumerate(measure(world, shape)):
                for step in result["steps"]:
                    overlap = ""
                    if step["sent_bytes"]:
                        hidden = 1 - min(step["wait_s"], result["alone_s"]) / result["alone_s"]
                        overlap = f"{100 * hidden:.0f}%"
                    print(f"{world:>2} {rank:>4} {step['step']:>4} {step['compute_s']:>10.3f} "
                          f"{step['wait_s']:>8.4f} {step['sent_bytes'] / 1024:>9.1f} "
                          f"{overlap:>8}")
                print(f"{world:>2} {rank:>4} total {result['total_s']:.3f} s; the transfer "
                      f"alone {result['alone_s'] * 1e3:.2f} ms")
    if args.model or args.model_only:
        model(args)


if __name__ == "__main__":
    main()
