"""The rxlm-compatible layer (sqa.rxlm.SparseQueryAttention): the SQA
authors' constructor arguments with their meaning, their parameter names and
shapes (so their checkpoints load), and their forward, against a float64
recomputation through plain torch attention."""

import pytest

torch = pytest.importorskip("torch")

from sqa.rxlm import SparseQueryAttention  # noqa: E402


def _reference(layer, x):
    """Their computation in float64: projections with biases, heads split as
    view(b, t, heads, head_dim), K/V repeated over the query groups (GQA) or
    the query tiled over the key/value heads (reverse SQA), softmax with
    1/sqrt(head_dim), causal top-left, out_proj."""
    p = {n: t.detach().double() for n, t in layer.state_dict().items()}
    linear = lambda name, z: z @ p[f"{name}.weight"].T + p.get(f"{name}.bias", 0.0)
    x = x.double()
    b, t, _ = x.shape
    hq, hkv, hd = layer.num_query_groups, layer.num_groups, layer.head_dim
    q = linear("q_proj", x).view(b, t, hq, hd).transpose(1, 2)
    k = linear("k_proj", x).view(b, t, hkv, hd).transpose(1, 2)
    v = linear("v_proj", x).view(b, t, hkv, hd).transpose(1, 2)
    if hq >= hkv:
        k, v = (z.repeat_interleave(hq // hkv, dim=1) for z in (k, v))
    else:
        q = q.repeat(1, hkv // hq, 1, 1)
    scores = q @ k.transpose(-1, -2) / hd ** 0.5
    if layer.is_causal:
        scores = scores.masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(), float("-inf"))
    out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, -1)
    return linear("out_proj", out)


@pytest.mark.parametrize("groups,query_groups,use_bias", [(4, 8, False), (8, 4, True),
                                                          (1, 4, False)])
def test_matches_their_layer(groups, query_groups, use_bias):
    torch.manual_seed(0)
    # SQA 8/4 with head dim 16 is rxlm's SparseQueryAttention(256, 16, 4, 8).
    layer = SparseQueryAttention(256, 16, groups, query_groups, is_causal=True,
                                 use_bias=use_bias)
    assert layer.head_dim == 16
    assert layer.q_proj.weight.shape == (query_groups * 16, 256)
    assert layer.k_proj.weight.shape == (groups * 16, 256)
    assert layer.out_proj.weight.shape == (256, max(groups, query_groups) * 16)
    keys = {"q_proj.weight", "k_proj.weight", "v_proj.weight", "out_proj.weight", "out_proj.bias"}
    if use_bias:
        keys |= {"q_proj.bias", "k_proj.bias", "v_proj.bias"}
    assert set(layer.state_dict()) == keys
    x = torch.randn(2, 20, 256)
    with torch.no_grad():
        y = layer(x, x, x)
    assert torch.allclose(y.double(), _reference(layer, x), atol=1e-4, rtol=1e-4)


def test_loads_their_checkpoint():
    # A state dict as their layer saves it (names and shapes), loaded strictly.
    torch.manual_seed(1)
    theirs = {"q_proj.weight": torch.randn(128, 256), "k_proj.weight": torch.randn(64, 256),
              "v_proj.weight": torch.randn(64, 256), "out_proj.weight": torch.randn(256, 128),
              "out_proj.bias": torch.randn(256)}
    layer = SparseQueryAttention(256, 16, 4, 8)
    layer.load_state_dict(theirs, strict=True)
    assert torch.equal(layer.out_proj.bias, theirs["out_proj.bias"])
    with pytest.raises(RuntimeError, match="size mismatch"):
        SparseQueryAttention(256, 16, 4, 4).load_state_dict(theirs)


def test_refuses_what_it_does_not_do():
    with pytest.raises(NotImplementedError, match="rope"):
        SparseQueryAttention(64, 4, 2, 2, rope=object())
    with pytest.raises(NotImplementedError, match="dropout"):
        SparseQueryAttention(64, 4, 2, 2, dropout=0.1)
    with pytest.raises(NotImplementedError, match="use_gated_attention"):
        SparseQueryAttention(64, 4, 2, 2, use_gated_attention=True)
    with pytest.raises(ValueError, match="num_heads \\(4\\) must be a multiple of num_groups"):
        SparseQueryAttention(64, 4, 3, 2)
    with pytest.raises(ValueError, match="num_heads must be a positive int, not 0"):
        SparseQueryAttention(64, 0, 2, 2)
    with pytest.raises(ValueError, match="num_query_groups must be a positive int, not 0"):
        SparseQueryAttention(64, 4, 2, 0)
    layer = SparseQueryAttention(64, 4, 2, 2)
    x = torch.randn(1, 5, 64)
    with pytest.raises(NotImplementedError, match="mask"):
        layer(x, x, x, mask=torch.ones(1, 1, 1, 5))
    with pytest.raises(NotImplementedError, match="stm_kv_cache"):
        layer(x, x, x, use_self_attn_cache=True)
