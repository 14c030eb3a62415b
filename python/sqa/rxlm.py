"""A Sparse Query Attention layer with the constructor, forward and
parameters of the SQA authors' own (RxNN / rxlm
`rxnn.transformers.attention.SparseQueryAttention`), computed by this
compiler's kernels (`sqa.pytorch.sqa_attention`).

Their arguments keep their meaning: `embed_dim` is the model width,
`num_heads` the baseline head count that sets head_dim = embed_dim /
num_heads, `num_groups` the key/value heads and `num_query_groups` the query
heads (fewer than num_groups: reverse SQA, the query heads tiled over the
key/value heads as their `q.repeat`). The parameters are theirs, with their
names and shapes (`q_proj`, `k_proj`, `v_proj`, `out_proj`; biases as
`use_bias` and `use_output_bias` say), so their checkpoints load with
`load_state_dict`. What their layer does and this one does not (rotary or
relative position embeddings, gated attention, attention dropout, padding
masks, the KV cache of generation) raises NotImplementedError naming the
argument.
"""

from torch import nn

from .pytorch import _positive_int, sqa_attention


class SparseQueryAttention(nn.Module):
    """rxlm's SparseQueryAttention(embed_dim, num_heads, num_groups,
    num_query_groups, ...) on sqa_attention."""

    def __init__(self, embed_dim, num_heads, num_groups, num_query_groups, dropout=0.0,
                 rope=None, rope_only_for_query=False, use_relative_embeddings=False,
                 max_seq_len=1024, use_flash_attention=False, is_causal=False, use_bias=False,
                 use_output_bias=True, use_gated_attention=False,
                 gated_attention_activation="sigmoid", rope_only_for_keys=False,
                 device=None, dtype=None):
        super().__init__()
        unsupported = [("rope", rope is not None), ("use_relative_embeddings",
                                                     use_relative_embeddings),
                       ("use_gated_attention", use_gated_attention),
                       ("dropout", dropout != 0.0)]
        for name, used in unsupported:
            if used:
                raise NotImplementedError(f"rxlm SparseQueryAttention: {name} is not supported by "
                                          "the sqa kernels")
        for name, value in (("embed_dim", embed_dim), ("num_heads", num_heads),
                            ("num_groups", num_groups), ("num_query_groups", num_query_groups)):
            _positive_int("rxlm SparseQueryAttention", name, value)
        if embed_dim % num_heads != 0:
            raise ValueError(f"rxlm SparseQueryAttention: embed_dim ({embed_dim}) must be a "
                             f"multiple of num_heads ({num_heads})")
        if num_heads % num_groups != 0:
            raise ValueError(f"rxlm SparseQueryAttention: num_heads ({num_heads}) must be a "
                             f"multiple of num_groups ({num_groups})")
        if max(num_query_groups, num_groups) % min(num_query_groups, num_groups) != 0:
            raise ValueError(f"rxlm SparseQueryAttention: one of num_query_groups "
                             f"({num_query_groups}) and num_groups ({num_groups}) must divide "
                             "the other")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.num_groups, self.num_query_groups = num_groups, num_query_groups
        self.head_dim = embed_dim // num_heads
        self.is_causal = is_causal
        self.use_bias, self.use_output_bias = use_bias, use_output_bias
        factory = {"device": device, "dtype": dtype}
        hd = self.head_dim
        self.q_proj = nn.Linear(embed_dim, num_query_groups * hd, bias=use_bias, **factory)
        self.k_proj = nn.Linear(embed_dim, num_groups * hd, bias=use_bias, **factory)
        self.v_proj = nn.Linear(embed_dim, num_groups * hd, bias=use_bias, **factory)
        self.out_proj = nn.Linear(max(num_query_groups, num_groups) * hd, embed_dim,
                                  bias=use_output_bias, **factory)

    def forward(self, query, key, value, mask=None, stm_kv_cache=None,
                use_self_attn_cache=False, current_positions=None):
        """query [B, T, embed_dim]; key, value [B, S, embed_dim]. As theirs,
        a causal layer ignores `mask` (top-left causal attention)."""
        if stm_kv_cache is not None or use_self_attn_cache or current_positions is not None:
            raise NotImplementedError("rxlm SparseQueryAttention: stm_kv_cache, "
                                      "use_self_attn_cache and current_positions (generation "
                                      "caches) are not supported")
        if mask is not None and not self.is_causal:
            raise NotImplementedError("rxlm SparseQueryAttention: mask (padding masks) is not "
                                      "supported; only is_causal")
        b, t, _ = query.shape
        s = key.shape[1]
        q = self.q_proj(query).view(b, t, self.num_query_groups, self.head_dim)
        k = self.k_proj(key).view(b, s, self.num_groups, self.head_dim)
        v = self.v_proj(value).view(b, s, self.num_groups, self.head_dim)
        out = sqa_attention(q, k, v, causal=bool(self.is_causal), layout="bshd")
        return self.out_proj(out.reshape(b, t, -1))

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"num_groups={self.num_groups}, num_query_groups={self.num_query_groups}, "
                f"is_causal={self.is_causal}")
