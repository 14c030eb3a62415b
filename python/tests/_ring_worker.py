"""One rank of a ring_attention test (test_distributed.py starts W of them):
python3 _ring_worker.py RANK WORLD INIT_FILE CASE_JSON OUT_DIR. Draws the
case's full inputs from its seed (the same on every rank), runs
ring_attention on this rank's shards, backpropagates the shard of a drawn
output gradient, and saves out, lse and the shards' gradients (or the error
it raised) to OUT_DIR/rank<R>.pt."""
import datetime
import faulthandler
import json
import os
import sys

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sqa.distributed import ring_attention, shard_sequence  # noqa: E402


def inputs(case):
    """The full q, k, v and output gradient of `case` ([B, H, S, D])."""
    g = torch.Generator().manual_seed(case["seed"])
    b, hq, hkv, sq, skv, d = (case[n] for n in ("b", "hq", "hkv", "sq", "skv", "d"))
    q = torch.randn(b, hq, sq, d, generator=g)
    k = torch.randn(b, hkv, skv, d, generator=g)
    v = torch.randn(b, hkv, skv, d, generator=g)
    dout = torch.randn(b, max(hq, hkv), sq, d, generator=g)
    return q, k, v, dout


def _leave():
    """Leaves the group together: on torch 2.6 a rank whose peer had already
    torn the group down could wait in destroy_process_group forever."""
    dist.barrier()
    dist.destroy_process_group()


def layer(case, process_group=None):
    """The case's SparseQueryAttention layer (weights from its seed)."""
    from sqa.pytorch import SparseQueryAttention
    torch.manual_seed(case["seed"])
    return SparseQueryAttention(case["d_model"], num_query_heads=case["hq"],
                                num_kv_heads=case["hkv"], head_dim=case["d"],
                                causal=case["causal"], process_group=process_group,
                                load_balance=case["load_balance"])


def layer_input(case):
    g = torch.Generator().manual_seed(case["seed"] + 1)
    return torch.randn(case["b"], case["sq"], case["d_model"], generator=g)


def layer_case(case, rank, world, out_dir):
    """The layer with the world's process group on this rank's shard of x:
    its output shard and the gradient of its weights (summed over ranks)."""
    model = layer(case, dist.group.WORLD)
    x = shard_sequence(layer_input(case), None, 1, case["load_balance"])
    out = model(x)
    out.square().sum().backward()
    grad = model.q_proj.weight.grad.clone()
    dist.all_reduce(grad)
    torch.save({"out": out.detach(), "q_proj_grad": grad}, os.path.join(out_dir, f"rank{rank}.pt"))
    _leave()


def torch_cp_case(case, rank, world, out_dir):
    """PyTorch's own context parallelism (torch >= 2.5: DeviceMesh and
    context_parallel) shards q, k, v in place (its round-robin balancer for
    causal work is ring_attention's load_balance order); ring_attention on
    those shards, then context_parallel_unshard, gives the full output."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.experimental import context_parallel
    try:
        from torch.distributed.tensor.experimental import context_parallel_unshard
    except ImportError:  # torch 2.6 has it in the private module only
        from torch.distributed.tensor.experimental._attention import context_parallel_unshard
    mesh = init_device_mesh("cpu", (world,))
    q, k, v, _ = inputs(case)
    with context_parallel(mesh, buffers=[q, k, v], buffer_seq_dims=[2, 2, 2]):
        out = ring_attention(q, k, v, group=mesh.get_group(), causal=True, load_balance=True)
    (full,) = context_parallel_unshard(mesh, [out], [2])
    torch.save({"out": full}, os.path.join(out_dir, f"rank{rank}.pt"))
    _leave()


def main():
    rank, world = int(sys.argv[1]), int(sys.argv[2])
    init, case, out_dir = sys.argv[3], json.loads(sys.argv[4]), sys.argv[5]
    # A rank still running after the group's timeout and a margin prints
    # every thread's stack and exits: a stuck test fails, saying where.
    faulthandler.dump_traceback_later(case.get("timeout", 120) + 60, exit=True)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank,
                            world_size=world,
                            timeout=datetime.timedelta(seconds=case.get("timeout", 120)))
    if case.get("die") and rank == 1:
        os._exit(3)  # a rank that fails before the attention
    if case.get("layer"):
        layer_case(case, rank, world, out_dir)
        return
    if case.get("torch_cp"):
        torch_cp_case(case, rank, world, out_dir)
        return
    q, k, v, dout = inputs(case)
    lb, layout = case["load_balance"], case["layout"]
    shards = [shard_sequence(t, None, 2, lb) for t in (q, k, v, dout)]
    if case.get("mismatch") and rank == 1:
        shards[1] = shards[1][:, :, :-1]
    if layout == "bshd":
        shards = [t.transpose(1, 2).contiguous() for t in shards]
    ql, kl, vl, dl = shards
    for t in (ql, kl, vl):
        t.requires_grad_(True)
    try:
        window = tuple(case["window"]) if case.get("window") else None
        out, lse = ring_attention(ql, kl, vl, causal=case["causal"], window=window,
                                  layout=layout,
                                  load_balance=lb, return_lse=True,
                                  comm=case.get("comm", "p2p"))
    except ValueError as err:
        torch.save({"error": str(err)}, os.path.join(out_dir, f"rank{rank}.pt"))
        return
    (out * dl).sum().backward()
    grads = [t.grad for t in (ql, kl, vl)]
    if layout == "bshd":
        out, grads = out.transpose(1, 2), [g.transpose(1, 2) for g in grads]
    torch.save({"out": out.detach(), "lse": lse, "dq": grads[0], "dk": grads[1],
                "dv": grads[2]}, os.path.join(out_dir, f"rank{rank}.pt"))
    _leave()


if __name__ == "__main__":
    main()
