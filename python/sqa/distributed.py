"""Context parallelism on torch.distributed: ring attention.

Each rank holds a shard of the sequence dimension of q, k and v. The key and
value shards travel around the ring of the process group by point-to-point
messages (`batch_isend_irecv`), the next block in flight while the one in
hand is attended to; each rank merges its partial outputs through their
log-sum-exps, and its output shard is the attention of its queries over the
whole sequence. The backward sends K and V around again, with the dK and dV
accumulators of each block travelling with it and arriving home after a
full turn; each block's gradients come from the op's own backward with the
global output and lse (FlashAttention's backward needs nothing else). Only
key/value heads travel: an SQA or GQA layer sends Hkv heads, not Hq.

Shards: `load_balance=False` gives rank r the r-th of W contiguous chunks;
`load_balance=True` splits the sequence into 2W chunks and gives rank r
chunks r and 2W-1-r (the zigzag order that evens out causal work).
`shard_sequence` and `unshard_sequence` make and undo either order.

Each (query chunk, key chunk) pair is attended to as a whole: unmasked, or
with the causal mask where the chunks are the same (equal lengths, so top-left
and bottom-right agree), or skipped where every key lies in the queries'
future. So causal attention needs equal query and key lengths; windows
would need a diagonal offset per pair, which the kernels do not take at
run time yet, and are refused.

Deterministic for a fixed world size: the blocks arrive and are merged in
a fixed order. Errors: shapes that differ across ranks raise ValueError on
every rank (checked with one all_gather before any transfer); a rank that
dies leaves the others in the group's timeout (init_process_group's
`timeout`), never a silent hang without one.
"""

import time

import torch
import torch.distributed as dist

from .pytorch import _backward, _call_params, _check_inputs, _forward, _logical, \
    attention_config

__all__ = ["ring_attention", "shard_sequence", "unshard_sequence"]

# Set to a list by bench/ring_attention.py: each step of a ring appends a
# dict of what it did (seconds computing, seconds blocked waiting for the
# next block, bytes sent). None: nothing is recorded.
_PROFILE = None


def _world(group):
    return dist.get_world_size(group), dist.get_rank(group)


def _chunk_ids(rank, world, load_balance):
    """The global chunk indices a rank holds, in order."""
    return [rank, 2 * world - 1 - rank] if load_balance else [rank]


def _check_divisible(function, length, parts, what):
    if length % parts:
        raise ValueError(f"{function}: the sequence length {length} of {what} does not split "
                         f"into {parts} equal chunks")


def shard_sequence(x, group, dim, load_balance=False):
    """This rank's shard of the full tensor `x` along `dim`: chunk r of W
    (contiguous), or chunks r and 2W-1-r of 2W (load_balance)."""
    world, rank = _world(group)
    parts = world * (2 if load_balance else 1)
    _check_divisible("shard_sequence", x.shape[dim], parts, "x")
    chunks = x.chunk(parts, dim)
    return torch.cat([chunks[c] for c in _chunk_ids(rank, world, load_balance)], dim)


def unshard_sequence(x_local, group, dim, load_balance=False):
    """The full tensor, on every rank, from each rank's shard `x_local`
    (shard_sequence's order). Not differentiable (all_gather)."""
    world, _ = _world(group)
    gathered = [torch.empty_like(x_local) for _ in range(world)]
    dist.all_gather(gathered, x_local.contiguous(), group=group)
    if not load_balance:
        return torch.cat(gathered, dim)
    pieces = [None] * (2 * world)
    for rank, shard in enumerate(gathered):
        first, second = shard.chunk(2, dim)
        pieces[rank], pieces[2 * world - 1 - rank] = first, second
    return torch.cat(pieces, dim)


def _check_across_ranks(group, q, k, v, causal, load_balance):
    """Raises ValueError on every rank where the ranks' shapes or arguments
    differ (one all_gather of a small int64 tensor)."""
    world, _ = _world(group)
    codes = {torch.float16: 1, torch.bfloat16: 2, torch.float32: 3, torch.float64: 4}
    mine = torch.tensor([*q.shape, *k.shape, *v.shape, codes.get(q.dtype, 0),
                         int(bool(causal)), int(load_balance)], dtype=torch.int64)
    everyone = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(everyone, mine, group=group)
    for rank, theirs in enumerate(everyone):
        if not torch.equal(theirs, mine):
            raise ValueError(f"ring_attention: rank {rank} called with other shapes or "
                             f"arguments ({theirs.tolist()}) than this rank ({mine.tolist()}): "
                             "every rank must pass shards of one attention")


def _pairs(q_chunks, k_chunks, causal):
    """(query chunk position, key chunk position, masked) of every pair to
    attend to, in a fixed order; causal pairs whose keys all lie in the
    future are left out."""
    pairs = []
    for qi, qc in enumerate(q_chunks):
        for ki, kc in enumerate(k_chunks):
            if causal and kc > qc:
                continue
            pairs.append((qi, ki, causal and kc == qc))
    return pairs


def _merge(out, lse, part_out, part_lse):
    """Merges a partial (out, lse) into the running one (f32): the softmax
    over the union of their keys. Rows that saw no key on either side keep
    out = 0, lse = -inf."""
    new_lse = torch.logaddexp(lse, part_lse)
    finite = torch.isfinite(new_lse)
    safe = torch.where(finite, new_lse, torch.zeros_like(new_lse))
    a = torch.where(finite, torch.exp(lse - safe), torch.zeros_like(lse))
    b = torch.where(finite, torch.exp(part_lse - safe), torch.zeros_like(part_lse))
    return out * a.unsqueeze(-1) + part_out * b.unsqueeze(-1), new_lse


def _global_rank(group, rank):
    """The global rank of `group`'s rank `rank` (point-to-point ops name
    global ranks)."""
    if group is None:
        return rank
    get = getattr(dist, "get_global_rank", None) or dist.distributed_c10d._get_global_rank
    return get(group, rank)


def _exchange(group, send, recv_like):
    """Starts sending the tensors `send` to the next rank and receiving as
    many from the previous one; returns (requests, receive buffers)."""
    world, rank = _world(group)
    nxt = _global_rank(group, (rank + 1) % world)
    prv = _global_rank(group, (rank - 1) % world)
    buffers = [torch.empty_like(t) for t in recv_like]
    ops = [dist.P2POp(dist.isend, t.contiguous(), nxt, group) for t in send]
    ops += [dist.P2POp(dist.irecv, t, prv, group) for t in buffers]
    return dist.batch_isend_irecv(ops), buffers


def _blocks(group, k, v, q_len, load_balance, causal, comm):
    """The key/value blocks of every rank, on this one, in the ring's order
    (this rank's first, then the previous rank's, ...): yields (K block, V
    block, pairs) for each, pairs being (query slice, key slice, causal) of
    the chunk pairs to attend to. comm "p2p": the blocks travel the ring,
    the next in flight while the consumer works on the one yielded;
    "all_gather": all are gathered first (PyTorch CP's default; W blocks in
    memory)."""
    world, rank = _world(group)
    chunks = 2 if load_balance else 1
    cq, ck = q_len // chunks, k.shape[2] // chunks
    q_chunks = _chunk_ids(rank, world, load_balance)
    block = [k.contiguous(), v.contiguous()]
    gathered = None
    if comm == "all_gather":
        gathered = [[torch.empty_like(t) for _ in range(world)] for t in block]
        for parts, t in zip(gathered, block):
            dist.all_gather(parts, t, group=group)
    for step in range(world):
        src = (rank - step) % world
        requests = None
        if gathered is not None:
            block = [gathered[0][src], gathered[1][src]]
        elif step < world - 1:
            requests, following = _exchange(group, block, block)
        pairs = [(slice(qi * cq, (qi + 1) * cq), slice(ki * ck, (ki + 1) * ck), masked)
                 for qi, ki, masked in _pairs(q_chunks, _chunk_ids(src, world, load_balance),
                                              causal)]
        started = time.perf_counter()
        yield block[0], block[1], pairs
        computed = time.perf_counter()
        if requests is not None:
            for request in requests:
                request.wait()
            block = following
        if _PROFILE is not None:
            _PROFILE.append({"step": step, "compute_s": computed - started,
                             "wait_s": time.perf_counter() - computed,
                             "sent_bytes": 0 if requests is None else
                             sum(t.numel() * t.element_size() for t in block)})


class _RingAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, group, causal, scale, load_balance, comm):
        full = attention_config(q.shape, k.shape, v.shape, q.dtype, False, scale, None)
        diag = attention_config(q.shape, k.shape, v.shape, q.dtype, True, scale, None)
        batch, ho, dv = q.shape[0], full.num_output_heads, full.dv
        out = torch.zeros(batch, ho, q.shape[2], dv, dtype=torch.float32, device=q.device)
        lse = torch.full((batch, ho, q.shape[2]), float("-inf"), dtype=torch.float32,
                         device=q.device)
        for k_block, v_block, pairs in _blocks(group, k, v, q.shape[2], load_balance, causal,
                                               comm):
            for qs, ks, masked in pairs:
                part = torch.empty(batch, ho, qs.stop - qs.start, dv, dtype=q.dtype,
                                   device=q.device)
                part_lse = _forward(q[:, :, qs].contiguous(), k_block[:, :, ks].contiguous(),
                                    v_block[:, :, ks].contiguous(), part,
                                    diag if masked else full, with_lse=True)
                out[:, :, qs], lse[:, :, qs] = _merge(out[:, :, qs], lse[:, :, qs],
                                                      part.float(), part_lse.float())
        out = out.to(q.dtype)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.group, ctx.causal, ctx.load_balance, ctx.comm = group, causal, load_balance, comm
        ctx.configs = (full, diag)
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    def backward(ctx, dout, unused_lse_grad):
        q, k, v, out, lse = ctx.saved_tensors
        group, causal, load_balance = ctx.group, ctx.causal, ctx.load_balance
        full, diag = ctx.configs
        world, rank = _world(group)
        dout = dout.contiguous()
        dq = torch.zeros(q.shape, dtype=torch.float32, device=q.device)
        # The dK and dV of the block in hand: with p2p they travel with it;
        # with all_gather every block's stay here until one all_reduce.
        blocks = 1 if ctx.comm == "p2p" else world
        dk_acc = torch.zeros((blocks, *k.shape), dtype=torch.float32, device=q.device)
        dv_acc = torch.zeros((blocks, *v.shape), dtype=torch.float32, device=q.device)
        steps = _blocks(group, k, v, q.shape[2], load_balance, causal, ctx.comm)
        for step, (k_block, v_block, pairs) in enumerate(steps):
            slot = 0 if ctx.comm == "p2p" else (rank - step) % world
            for qs, ks, masked in pairs:
                dq_part, dk_part, dv_part = _backward(
                    q[:, :, qs].contiguous(), k_block[:, :, ks].contiguous(),
                    v_block[:, :, ks].contiguous(), out[:, :, qs].contiguous(),
                    dout[:, :, qs].contiguous(), lse[:, :, qs].contiguous(),
                    diag if masked else full)
                dq[:, :, qs] += dq_part.float()
                dk_acc[slot, :, :, ks] += dk_part.float()
                dv_acc[slot, :, :, ks] += dv_part.float()
            # The accumulators move on with their block; after the last step
            # they go home (the next rank is the block's owner).
            if ctx.comm == "p2p" and world > 1:
                requests, (dk_acc, dv_acc) = _exchange(group, [dk_acc, dv_acc],
                                                       [dk_acc, dv_acc])
                for request in requests:
                    request.wait()
        if ctx.comm == "all_gather":
            # Every rank's contribution to every block, summed (gloo's
            # all_reduce adds in a fixed order), then this rank's own.
            for acc in (dk_acc, dv_acc):
                dist.all_reduce(acc, group=group)
            dk_acc, dv_acc = dk_acc[rank:rank + 1], dv_acc[rank:rank + 1]
        dk_cur, dv_cur = dk_acc[0], dv_acc[0]
        return (dq.to(q.dtype), dk_cur.to(k.dtype), dv_cur.to(v.dtype),
                None, None, None, None, None)


def ring_attention(q, k, v, *, group=None, causal=False, window=None, scale=None,
                   layout="bhsd", load_balance=False, return_lse=False, comm="p2p"):
    """Attention over the whole sequence from this rank's shards q, k, v of
    it (shard_sequence's order), as `sqa.sqa_attention` takes them: heads
    and layouts as there, causal False or True (equal query and key lengths;
    the diagonal chunks are causal, top-left and bottom-right agree).
    Returns this rank's output shard, and with `return_lse` its log-sum-exp
    ([B, Ho, S_local], float32). Differentiable. `group`: the process group
    (default: the world). Only the key/value shards travel: around the ring
    (comm="p2p"), or gathered at once (comm="all_gather", PyTorch context
    parallelism's default, for small world sizes: every rank then holds all
    W blocks, and the backward sums dK/dV with one all_reduce)."""
    if window is not None:
        raise NotImplementedError(
            "ring_attention: windows need a diagonal offset for each pair of sequence "
            "chunks, which the kernels do not take at run time yet")
    if layout not in ("bhsd", "bshd"):
        raise ValueError(f"ring_attention: layout must be 'bhsd' or 'bshd', not {layout!r}")
    if comm not in ("p2p", "all_gather"):
        raise ValueError(f"ring_attention: comm must be 'p2p' or 'all_gather', not {comm!r}")
    if causal not in (False, True):
        raise ValueError(f"ring_attention: causal must be False or True, not {causal!r}")
    _check_inputs(q, k, v, layout)
    _, _, scale = _call_params(causal, scale, None)
    world, _ = _world(group)
    ql, kl, vl = (_logical(t, layout) for t in (q, k, v))
    chunks = world * (2 if load_balance else 1)
    _check_divisible("ring_attention", ql.shape[2] * world, chunks, "q (all shards)")
    _check_divisible("ring_attention", kl.shape[2] * world, chunks, "k (all shards)")
    if causal and ql.shape[2] != kl.shape[2]:
        raise ValueError("ring_attention: causal attention needs equal query and key/value "
                         f"shard lengths, not {ql.shape[2]} and {kl.shape[2]}")
    _check_across_ranks(group, ql, kl, vl, causal, load_balance)
    out, lse = _RingAttention.apply(ql, kl, vl, group, bool(causal), scale, bool(load_balance),
                                    comm)
    if layout == "bshd":
        out = out.transpose(1, 2)
    return (out, lse) if return_lse else out
