"""ring_attention on the CPU with the gloo backend: W processes (started
here, each python/tests/_ring_worker.py) compute their shards' outputs, lse
and gradients, which must equal the single-process op's, sharded the same
way.

Tolerance: 2e-5 of max(1, |ref|) per element, in f32. The ring computes
each (query chunk, key chunk) pair with the op and merges the partial
outputs through their lse in f32: each partial is rounded to f32 once and
each merge rescales by exp(lse_a - lse) (a few ulp, 2^-24 each), and its
sums run over the blocks in another order than the single-process tiles; W
<= 4 merges and gradients summed over W blocks stay within ~10 ulp of the
values, far below 2e-5 (~170 ulp), while a wrong block, mask or merge is
off by O(1)."""
import json
import os
import subprocess
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _ring_worker import inputs  # noqa: E402

from sqa.pytorch import sqa_attention  # noqa: E402
from sqa.tools import ToolError, find_tool  # noqa: E402

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ring_worker.py")
TOLERANCE = 2e-5

try:
    find_tool("sqa-run")
    HAVE_TOOLS = True
except ToolError:
    HAVE_TOOLS = False
pytestmark = pytest.mark.skipif(not HAVE_TOOLS or not torch.distributed.is_gloo_available(),
                                reason="needs the sqa tools and torch.distributed's gloo")


def _start(tmp_path, world, case):
    """Starts the W ranks of `case`; returns (process, log path) of each.
    Their output goes to files, not pipes: a rank blocked writing to a full
    pipe that nobody reads would stall the ring, and with it every rank."""
    init = tmp_path / "init"
    ranks = []
    for rank in range(world):
        log = tmp_path / f"rank{rank}.log"
        with open(log, "w") as out:
            ranks.append((subprocess.Popen([sys.executable, WORKER, str(rank), str(world),
                                            str(init), json.dumps(case), str(tmp_path)],
                                           stdout=out, stderr=subprocess.STDOUT), log))
    return ranks


def _finish(ranks):
    """Waits for the ranks; returns (return code, output) of each."""
    results = []
    for proc, log in ranks:
        proc.wait(timeout=600)
        results.append((proc.returncode, log.read_text()))
    return results


def _run(tmp_path, world, case):
    for returncode, output in _finish(_start(tmp_path, world, case)):
        assert returncode == 0, output
    return [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(world)]


def _shard(x, world, rank, load_balance):
    parts = world * (2 if load_balance else 1)
    chunks = x.chunk(parts, 2)
    ids = [rank, 2 * world - 1 - rank] if load_balance else [rank]
    return torch.cat([chunks[c] for c in ids], 2)


CASES = [
    # (world, heads (hq, hkv), causal, window, load_balance, layout, sq, skv, comm)
    (2, (4, 2), False, None, False, "bhsd", 16, 16, "p2p"),    # GQA
    (2, (2, 4), True, None, False, "bhsd", 16, 16, "p2p"),     # reverse SQA, causal
    (2, (4, 2), False, None, False, "bhsd", 8, 16, "p2p"),     # Sq != Skv
    (4, (4, 1), True, None, True, "bshd", 16, 16, "p2p"),      # MQA, zigzag, [B, S, H, D]
    (4, (8, 4), True, None, False, "bhsd", 16, 16, "p2p"),     # SQA, causal, contiguous
    (4, (2, 4), True, None, True, "bhsd", 16, 16, "all_gather"),  # rSQA, gathered
    # Pairs of chunks that need a diagonal offset (the CPU path's).
    (2, (4, 2), True, None, False, "bhsd", 8, 16, "p2p"),      # causal top-left, Sq != Skv
    (2, (2, 4), "bottom_right", None, True, "bhsd", 8, 16, "p2p"),  # bottom-right, zigzag
    (4, (4, 1), False, (3, 0), True, "bshd", 16, 16, "p2p"),   # window, zigzag
    (2, (8, 4), "bottom_right", (5, 2), False, "bhsd", 16, 24, "all_gather"),  # both
]


@pytest.mark.parametrize("world,heads,causal,window,load_balance,layout,sq,skv,comm",
                         [pytest.param(*case, marks=pytest.mark.ring4) if case[0] == 4 else case
                          for case in CASES])
def test_ring_attention_equals_the_op(tmp_path, world, heads, causal, window, load_balance,
                                      layout, sq, skv, comm):
    case = {"seed": world * 100 + heads[0] * 10 + heads[1], "b": 2, "hq": heads[0],
            "hkv": heads[1], "sq": sq, "skv": skv, "d": 16, "causal": causal,
            "window": window, "load_balance": load_balance, "layout": layout, "comm": comm}
    results = _run(tmp_path, world, case)
    q, k, v, dout = inputs(case)
    for t in (q, k, v):
        t.requires_grad_(True)
    out, lse = sqa_attention(q, k, v, causal=causal, window=window, return_lse=True)
    (out * dout).sum().backward()
    reference = {"out": out.detach(), "lse": lse, "dq": q.grad, "dk": k.grad, "dv": v.grad}
    for rank, got in enumerate(results):
        for name, ref in reference.items():
            expected = _shard(ref, world, rank, load_balance)
            err = ((got[name] - expected).abs() / expected.abs().clamp(min=1.0)).max().item()
            assert err <= TOLERANCE, f"rank {rank} {name}: {err:.2e}"


def test_shapes_that_differ_across_ranks_raise_on_every_rank(tmp_path):
    case = {"seed": 1, "b": 1, "hq": 2, "hkv": 2, "sq": 8, "skv": 8, "d": 16, "causal": False,
            "load_balance": False, "layout": "bhsd", "mismatch": True}
    for rank, got in enumerate(_run(tmp_path, 2, case)):
        assert "called with other shapes or arguments" in got.get("error", ""), (rank, got)


def test_a_rank_that_dies_ends_the_others_with_an_error(tmp_path):
    """Rank 1 exits before the attention: rank 0 fails with gloo's error
    (the peer gone, or the group's 10 s timeout), never hangs."""
    case = {"seed": 1, "b": 1, "hq": 2, "hkv": 2, "sq": 8, "skv": 8, "d": 16, "causal": False,
            "load_balance": False, "layout": "bhsd", "die": True, "timeout": 10}
    (code0, output0), (code1, _) = _finish(_start(tmp_path, 2, case))
    assert code1 == 3
    assert code0 != 0 and "Error" in output0, output0
    assert not (tmp_path / "rank0.pt").exists()


def test_refused_arguments():
    from sqa.distributed import ring_attention
    q = torch.zeros(1, 2, 8, 16)
    with pytest.raises(ValueError, match="bottom-right coordinates"):
        ring_attention(q, q, q, causal=True, window=(4, 0))
    with pytest.raises(ValueError, match="layout"):
        ring_attention(q, q, q, layout="sbhd")
    with pytest.raises(ValueError, match="comm"):
        ring_attention(q, q, q, comm="nccl")


def test_layer_with_a_process_group(tmp_path):
    """SparseQueryAttention(process_group=...) on sequence shards gives the
    shards of the single-process layer's output, and the same weight
    gradients once summed over ranks (what DDP does)."""
    from _ring_worker import layer, layer_input
    case = {"layer": True, "seed": 7, "b": 1, "hq": 2, "hkv": 4, "d": 8, "d_model": 32, "sq": 16,
            "causal": True, "load_balance": True}
    results = _run(tmp_path, 2, case)
    model = layer(case)
    out = model(layer_input(case))
    out.square().sum().backward()
    for rank, got in enumerate(results):
        expected = _shard(out.detach().transpose(1, 2), 2, rank, True).transpose(1, 2)
        err = ((got["out"] - expected).abs() / expected.abs().clamp(min=1.0)).max().item()
        assert err <= TOLERANCE, f"rank {rank} out: {err:.2e}"
        ref = model.q_proj.weight.grad
        err = ((got["q_proj_grad"] - ref).abs() / ref.abs().clamp(min=1.0)).max().item()
        assert err <= 1e-4, f"rank {rank} q_proj grad: {err:.2e}"


def _has_torch_context_parallel():
    try:
        from torch.distributed.tensor.experimental import context_parallel  # noqa: F401
        from torch.distributed.device_mesh import init_device_mesh  # noqa: F401
        return True
    except ImportError:
        return False


@pytest.mark.skipif(not _has_torch_context_parallel(),
                    reason="PyTorch's context_parallel (torch >= 2.5)")
def test_pytorch_context_parallel_shards(tmp_path):
    """Inside torch's context_parallel, whose round-robin sharding is
    load_balance's order, ring_attention on its shards and
    context_parallel_unshard give the single-process op's output."""
    case = {"torch_cp": True, "seed": 11, "b": 1, "hq": 4, "hkv": 2, "sq": 16, "skv": 16,
            "d": 16}
    results = _run(tmp_path, 2, case)
    q, k, v, _ = inputs(case)
    ref = sqa_attention(q, k, v, causal=True)
    for rank, got in enumerate(results):
        err = ((got["out"] - ref).abs() / ref.abs().clamp(min=1.0)).max().item()
        assert err <= TOLERANCE, f"rank {rank}: {err:.2e}"
