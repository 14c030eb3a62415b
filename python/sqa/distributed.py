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

Each (query chunk, key chunk) pair is one call of the op, with the whole
attention's causal mask and window shifted to the pair by a diagonal
offset; pairs where no query sees a key are skipped, pairs where every
query sees every key run unmasked. On CUDA, whose kernel libraries take no
diagonal offset yet, only pairs that need none run (unmasked, or causal with
equal query and key lengths and no window).

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


def _masking_code(masking):
    """(mask, window) as integers, the same in every process."""
    mask, window = masking
    masks = {"none": 0, "causal_top_left": 1, "causal_bottom_right": 2}
    return [masks[mask], *(window if window is not None else (-2, -2))]


def _check_across_ranks(group, q, k, v, masking, load_balance):
    """Raises ValueError on every rank where the ranks' shapes or arguments
    differ (one all_gather of a small int64 tensor)."""
    world, _ = _world(group)
    codes = {torch.float16: 1, torch.bfloat16: 2, torch.float32: 3, torch.float64: 4}
    mine = torch.tensor([*q.shape, *k.shape, *v.shape, codes.get(q.dtype, 0),
                         *_masking_code(masking), int(load_balance)], dtype=torch.int64)
    everyone = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(everyone, mine, group=group)
    for rank, theirs in enumerate(everyone):
        if not torch.equal(theirs, mine):
            raise ValueError(f"ring_attention: rank {rank} called with other shapes or "
                             f"arguments ({theirs.tolist()}) than this rank ({mine.tolist()}): "
                             "every rank must pass shards of one attention")


class _Masking:
    """What each (query chunk, key chunk) pair computes. The whole
    attention's mask and window, in global positions (row gi sees key gj
    iff gj <= gi + D when causal, and gi + D - left <= gj <= gi + D + right
    with a window, D the whole attention's diagonal), become for a pair of
    chunks starting at global rows qs and keys ks the op's own mask with
    diagonal offset d = qs - ks + D; a pair where no row sees a key is
    skipped, one where every row sees every key runs unmasked."""

    def __init__(self, full, causal, window, diagonal, cq, ck):
        self.full, self.causal, self.window = full, causal, window
        self.diagonal, self.cq, self.ck = diagonal, cq, ck

    def config(self, q_chunk, k_chunk):
        """The op's configuration for a pair of global chunk indices, or
        None where no row of the pair sees a key."""
        if not self.causal and self.window is None:
            return self.full
        d = q_chunk * self.cq - k_chunk * self.ck + self.diagonal
        left, right = self.window if self.window is not None else (-1, -1)
        infinite = float("inf")
        # Row i sees keys [i + d - left, i + d + upper], upper the tighter
        # of the causal bound (0) and the window's right side.
        uppers = ([0] if self.causal else []) + ([right] if right >= 0 else [])
        upper = min(uppers) if uppers else infinite
        lower = -left if left >= 0 else -infinite
        first_row_hi, last_row_hi = d + upper, self.cq - 1 + d + upper
        first_row_lo, last_row_lo = d + lower, self.cq - 1 + d + lower
        if last_row_hi < 0 or first_row_lo > self.ck - 1:
            return None
        if last_row_lo <= 0 and first_row_hi >= self.ck - 1:
            return self.full
        mask = "causal_bottom_right" if self.causal else "none"
        if self.window is None and d == 0:
            return self.full.with_(mask="causal_top_left")
        if d == self.ck - self.cq:
            return self.full.with_(mask=mask, window=self.window)
        return self.full.with_(mask=mask, window=self.window, diagonal_offset=d)


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


def _blocks(group, k, v, q_len, load_balance, masking, comm):
    """The key/value blocks of every rank, on this one, in the ring's order
    (this rank's first, then the previous rank's, ...): yields (K block, V
    block, pairs) for each, pairs being (query slice, key slice, the op's
    configuration) of the chunk pairs to attend to (_Masking). comm "p2p":
    the blocks travel the ring, the next in flight while the consumer works
    on the one yielded; "all_gather": all are gathered first (PyTorch CP's
    default; W blocks in memory)."""
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
        pairs = []
        for qi, qc in enumerate(q_chunks):
            for ki, kc in enumerate(_chunk_ids(src, world, load_balance)):
                cfg = masking.config(qc, kc)
                if cfg is not None:
                    pairs.append((slice(qi * cq, (qi + 1) * cq),
                                  slice(ki * ck, (ki + 1) * ck), cfg))
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
    def forward(ctx, q, k, v, group, masking, load_balance, comm):
        full = masking.full
        batch, ho, dv = q.shape[0], full.num_output_heads, full.dv
        out = torch.zeros(batch, ho, q.shape[2], dv, dtype=torch.float32, device=q.device)
        lse = torch.full((batch, ho, q.shape[2]), float("-inf"), dtype=torch.float32,
                         device=q.device)
        for k_block, v_block, pairs in _blocks(group, k, v, q.shape[2], load_balance, masking,
                                               comm):
            for qs, ks, cfg in pairs:
                part = torch.empty(batch, ho, qs.stop - qs.start, dv, dtype=q.dtype,
                                   device=q.device)
                part_lse = _forward(q[:, :, qs].contiguous(), k_block[:, :, ks].contiguous(),
                                    v_block[:, :, ks].contiguous(), part, cfg,
                                    with_lse=True)
                out[:, :, qs], lse[:, :, qs] = _merge(out[:, :, qs], lse[:, :, qs],
                                                      part.float(), part_lse.float())
        out = out.to(q.dtype)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.group, ctx.masking, ctx.load_balance, ctx.comm = group, masking, load_balance, comm
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    def backward(ctx, dout, unused_lse_grad):
        q, k, v, out, lse = ctx.saved_tensors
        group, masking, load_balance = ctx.group, ctx.masking, ctx.load_balance
        world, rank = _world(group)
        dout = dout.contiguous()
        dq = torch.zeros(q.shape, dtype=torch.float32, device=q.device)
        # The dK and dV of the block in hand: with p2p they travel with it;
        # with all_gather every block's stay here until one all_reduce.
        blocks = 1 if ctx.comm == "p2p" else world
        dk_acc = torch.zeros((blocks, *k.shape), dtype=torch.float32, device=q.device)
        dv_acc = torch.zeros((blocks, *v.shape), dtype=torch.float32, device=q.device)
        steps = _blocks(group, k, v, q.shape[2], load_balance, masking, ctx.comm)
        for step, (k_block, v_block, pairs) in enumerate(steps):
            slot = 0 if ctx.comm == "p2p" else (rank - step) % world
            for qs, ks, cfg in pairs:
                dq_part, dk_part, dv_part = _backward(
                    q[:, :, qs].contiguous(), k_block[:, :, ks].contiguous(),
                    v_block[:, :, ks].contiguous(), out[:, :, qs].contiguous(),
                    dout[:, :, qs].contiguous(), lse[:, :, qs].contiguous(), cfg)
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
                None, None, None, None)


def ring_attention(q, k, v, *, group=None, causal=False, window=None, scale=None,
                   layout="bhsd", load_balance=False, return_lse=False, comm="p2p"):
    """Attention over the whole sequence from this rank's shards q, k, v of
    it (shard_sequence's order), as `sqa.pytorch.sqa_attention` takes them: heads,
    layouts, causal (False; True or "top_left"; "bottom_right"), window
    (in bottom-right coordinates, with causal False or "bottom_right") and
    scale as there, for the whole sequence. Returns this rank's output
    shard, and with `return_lse` its log-sum-exp ([B, Ho, S_local],
    float32). Differentiable. `group`: the process group (default: the
    world). Only the key/value shards travel: around the ring
    (comm="p2p"), or gathered at once (comm="all_gather", PyTorch context
    parallelism's default, for small world sizes: every rank then holds all
    W blocks, and the backward sums dK/dV with one all_reduce).

    Each pair of sequence chunks runs as one call of the op, with the
    whole attention's mask shifted to the pair by a diagonal offset
    (_Masking). On CUDA the kernel libraries take no offset yet, so there
    only pairs that need none run: unmasked, or causal with equal query and
    key lengths and no window; others raise."""
    if layout not in ("bhsd", "bshd"):
        raise ValueError(f"ring_attention: layout must be 'bhsd' or 'bshd', not {layout!r}")
    if comm not in ("p2p", "all_gather"):
        raise ValueError(f"ring_attention: comm must be 'p2p' or 'all_gather', not {comm!r}")
    _check_inputs(q, k, v, layout)
    mask, window, scale = _call_params(causal, scale, window)
    if window is not None and mask == "causal_top_left":
        raise ValueError("ring_attention: a window is in bottom-right coordinates: causal "
                         "must be False or 'bottom_right' with it")
    world, _ = _world(group)
    ql, kl, vl = (_logical(t, layout) for t in (q, k, v))
    chunks = world * (2 if load_balance else 1)
    _check_divisible("ring_attention", ql.shape[2] * world, chunks, "q (all shards)")
    _check_divisible("ring_attention", kl.shape[2] * world, chunks, "k (all shards)")
    _check_across_ranks(group, ql, kl, vl, (mask, window), load_balance)
    full = attention_config(ql.shape, kl.shape, vl.shape, ql.dtype, False, scale, None)
    per_rank = 2 if load_balance else 1
    # The whole attention's diagonal: key gj <= gi + diagonal.
    bottom_right = mask == "causal_bottom_right" or window is not None
    diagonal = world * (kl.shape[2] - ql.shape[2]) if bottom_right else 0
    masking = _Masking(full, mask != "none", window, diagonal, ql.shape[2] // per_rank,
                       kl.shape[2] // per_rank)
    out, lse = _RingAttention.apply(ql, kl, vl, group, masking, bool(load_balance), comm)
    if layout == "bshd":
        out = out.transpose(1, 2)
    return (out, lse) if return_lse else out
