"""The PyTorch front end: sqa_attention and SparseQueryAttention.

CPU tensors run through the compiler's CPU lowering (sqa-run) and are
compared with the float64 NumPy reference; CUDA tensors run the generated
kernel library and are compared with PyTorch SDPA in float32 with the heads
expanded (those tests are skipped where no GPU exists). Skipped entirely
where torch is missing.
"""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sqa import VARIANTS, attention_grad_reference, attention_reference  # noqa: E402
from sqa.dtypes import ABS_TOLERANCE  # noqa: E402
from sqa.pytorch import (_CUSTOM_OPS, SparseQueryAttention, flash_attn_func,  # noqa: E402
                         scaled_dot_product_attention, sqa_attention)
from gpu_cases import GRAD_CALLS, HEAD_DIM_CALLS, MODULE_CALL, VARIANT_CALLS  # noqa: E402

_NAMES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
_MASKS = {False: "none", True: "causal_top_left", "top_left": "causal_top_left",
          "bottom_right": "causal_bottom_right"}
_TORCH = {"f16": torch.float16, "bf16": torch.bfloat16}


def gpu(test):
    """A GPU test (`pytest -m gpu` selects them; scripts/gpu-check.sh runs
    them), skipped without a CUDA GPU."""
    return pytest.mark.gpu(pytest.mark.skipif(
        not torch.cuda.is_available()
        or not hasattr(torch.nn.functional, "scaled_dot_product_attention"),
        reason="no CUDA GPU (or a torch without SDPA, the GPU oracle)")(test))


def _inputs(hq, hkv, sq, skv, d, dtype, device="cpu", batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    make = lambda h, s: torch.randn(batch, h, s, d, generator=gen).to(dtype).to(device)
    return make(hq, sq), make(hkv, skv), make(hkv, skv)


def _check(out, q, k, v, causal=False, window=None, scale=None):
    """Compares `out` ([B, Ho, Sq, Dv]) with the float64 NumPy reference."""
    as64 = lambda t: t.detach().cpu().to(torch.float64).numpy()
    ref, _ = attention_reference(as64(q), as64(k), as64(v), _MASKS[causal], window, scale)
    got = as64(out)
    tolerance = ABS_TOLERANCE[_NAMES[out.dtype]] * np.maximum(1.0, np.abs(ref))
    assert got.shape == ref.shape
    worst = np.max(np.abs(got - ref) / tolerance)
    assert worst <= 1.0, f"error {worst:.2f} x tolerance"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variants_on_cpu(name):
    hq, hkv = VARIANTS[name]
    q, k, v = _inputs(hq, hkv, 33, 47, 16, torch.float32)
    out = sqa_attention(q, k, v, causal="bottom_right")
    assert out.shape == (2, max(hq, hkv), 33, 16)
    _check(out, q, k, v, causal="bottom_right")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_types_on_cpu(dtype):
    q, k, v = _inputs(8, 4, 40, 40, 64, dtype)
    out = sqa_attention(q, k, v, causal=True, scale=0.2)
    assert out.dtype == dtype
    _check(out, q, k, v, causal=True, scale=0.2)


def test_window_and_top_left_on_cpu():
    q, k, v = _inputs(4, 1, 17, 30, 32, torch.float32)
    _check(sqa_attention(q, k, v, causal=True), q, k, v, causal=True)
    _check(sqa_attention(q, k, v, window=(4, 2)), q, k, v, window=(4, 2))


def test_bshd_layout_on_cpu():
    q, k, v = _inputs(4, 8, 20, 25, 16, torch.float32)
    bshd = [t.transpose(1, 2).contiguous() for t in (q, k, v)]
    out = sqa_attention(*bshd, layout="bshd", causal="bottom_right")
    assert out.shape == (2, 20, 8, 16)
    _check(out.transpose(1, 2), q, k, v, causal="bottom_right")


def _module_reference(layer, x):
    """The layer's computation with the NumPy attention, in float64."""
    w = lambda linear: linear.weight.detach().to(torch.float64)
    x64 = x.detach().to(torch.float64)
    batch, seq, _ = x.shape
    heads = lambda t, h: t.view(batch, seq, h, layer.head_dim).transpose(1, 2).numpy()
    q = heads(x64 @ w(layer.q_proj).T, layer.num_query_heads)
    k = heads(x64 @ w(layer.k_proj).T, layer.num_kv_heads)
    v = heads(x64 @ w(layer.v_proj).T, layer.num_kv_heads)
    att, _ = attention_reference(q, k, v, _MASKS[layer.causal])
    att = torch.from_numpy(att).transpose(1, 2).reshape(batch, seq, -1)
    return att @ w(layer.o_proj).T


@pytest.mark.parametrize("name", ["xSQA", "rSQA", "GQA"])
def test_module_on_cpu(name):
    torch.manual_seed(0)
    layer = SparseQueryAttention.from_variant(name, d_model=256, causal=True)
    hq, hkv = VARIANTS[name]
    assert layer.o_proj.in_features == max(hq, hkv) * 16
    assert layer.k_proj.out_features == hkv * 16
    x = torch.randn(2, 24, 256)
    with torch.no_grad():
        y = layer(x)
    ref = _module_reference(layer, x)
    assert y.shape == (2, 24, 256)
    assert torch.allclose(y.to(torch.float64), ref, atol=1e-4, rtol=1e-4)


def test_return_lse_on_cpu():
    q, k, v = _inputs(8, 4, 12, 20, 16, torch.float32)
    out, lse = sqa_attention(q, k, v, causal="bottom_right", return_lse=True)
    _check(out, q, k, v, causal="bottom_right")
    as64 = lambda t: t.detach().cpu().to(torch.float64).numpy()
    _, ref_lse = attention_reference(as64(q), as64(k), as64(v), "causal_bottom_right")
    assert lse.shape == (2, 8, 12) and lse.dtype == torch.float32
    np.testing.assert_allclose(as64(lse), ref_lse, atol=1e-4)
    # Rows without keys: lse = -inf (Sq > Skv, bottom-right).
    _, lse = sqa_attention(*_inputs(4, 4, 9, 3, 16, torch.float32), causal="bottom_right",
                           return_lse=True)
    assert torch.isinf(lse[:, :, :6]).all() and (lse[:, :, :6] < 0).all()
    # The output stays differentiable; the lse is not.
    q.requires_grad_(True)
    out, lse = sqa_attention(q, k, v, return_lse=True)
    assert out.requires_grad and not lse.requires_grad
    out.sum().backward()
    assert q.grad is not None and torch.isfinite(q.grad).all()


def test_sdpa_shaped_entry_point_on_cpu():
    # GQA as SDPA's enable_gqa, the top-left is_causal, a scale; and reverse
    # SQA, which SDPA does not take.
    for hq, hkv in [(8, 2), (2, 8)]:
        q, k, v = _inputs(hq, hkv, 11, 11, 16, torch.float32)
        out = scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3, enable_gqa=True)
        _check(out, q, k, v, causal=True, scale=0.3)
    with pytest.raises(NotImplementedError, match="attn_mask"):
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(11, 11, dtype=torch.bool))
    with pytest.raises(NotImplementedError, match="dropout_p=0.1"):
        scaled_dot_product_attention(q, k, v, dropout_p=0.1)
    # SDPA's other shapes: [H, L, E] and more leading dims than one.
    out = scaled_dot_product_attention(q[1], k[1], v[1], scale=0.3)
    assert out.shape == (8, 11, 16)
    _check(out[None], q[1:], k[1:], v[1:], scale=0.3)
    q5, k5, v5 = (t.reshape(1, 2, *t.shape[1:]) for t in (q, k, v))
    out = scaled_dot_product_attention(q5, k5, v5, is_causal=True)
    assert out.shape == (1, 2, 8, 11, 16)
    _check(out[0], q, k, v, causal=True)
    with pytest.raises(NotImplementedError, match="key's leading dims \\(1,\\) differ"):
        scaled_dot_product_attention(q, k[:1], v[:1])
    with pytest.raises(ValueError, match="query must be"):
        scaled_dot_product_attention(q[0, 0], k, v)
    with pytest.raises(TypeError, match="scaled_dot_product_attention: key must be a torch.Tensor"):
        scaled_dot_product_attention(q, k.numpy(), v)
    with pytest.raises(ValueError, match="is_causal must be a bool"):
        scaled_dot_product_attention(q, k, v, is_causal="bottom_right")
    with pytest.raises(ValueError, match="scaled_dot_product_attention: scale must be"):
        scaled_dot_product_attention(q, k, v, scale=0.0)


def test_flash_attn_shaped_entry_point_on_cpu():
    # [B, S, H, D], bottom-right causal with Sq < Skv, a window, the lse.
    q, k, v = _inputs(4, 2, 7, 15, 16, torch.float32)
    bshd = [t.transpose(1, 2).contiguous() for t in (q, k, v)]
    out = flash_attn_func(*bshd, causal=True)
    assert out.shape == (2, 7, 4, 16)
    _check(out.transpose(1, 2), q, k, v, causal="bottom_right")
    out, lse, dropout_mask = flash_attn_func(*bshd, softmax_scale=0.5, window_size=(3, 1),
                                             return_attn_probs=True)
    _check(out.transpose(1, 2), q, k, v, window=(3, 1), scale=0.5)
    as64 = lambda t: t.detach().cpu().to(torch.float64).numpy()
    _, ref_lse = attention_reference(as64(q), as64(k), as64(v), "none", (3, 1), 0.5)
    assert lse.shape == (2, 4, 7) and dropout_mask is None
    np.testing.assert_allclose(as64(lse), ref_lse, atol=1e-4)
    with pytest.raises(NotImplementedError, match="dropout_p"):
        flash_attn_func(*bshd, dropout_p=0.5)
    with pytest.raises(ValueError, match="window_size must be a pair"):
        flash_attn_func(*bshd, window_size=4)
    with pytest.raises(ValueError, match="flash_attn_func: softmax_scale must be"):
        flash_attn_func(*bshd, softmax_scale=-0.5)
    with pytest.raises(NotImplementedError, match="softcap"):
        flash_attn_func(*bshd, softcap=30.0)
    with pytest.raises(NotImplementedError, match="alibi_slopes"):
        flash_attn_func(*bshd, alibi_slopes=torch.ones(4))
    # FlashAttention's positional order: ..., softcap, alibi_slopes,
    # deterministic, return_attn_probs.
    out, lse, _ = flash_attn_func(*bshd, 0.0, None, True, (-1, -1), 0.0, None, True, True)
    _check(out.transpose(1, 2), q, k, v, causal="bottom_right")


def test_autocast_on_cpu():
    # Under autocast, float32 inputs run in the autocast dtype, as SDPA's do
    # (on CUDA that selects the tensor-core kernels).
    q, k, v = _inputs(8, 2, 10, 10, 16, torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = sqa_attention(q, k, v, causal=True)
    assert out.dtype == torch.bfloat16
    rounded = [t.to(torch.bfloat16) for t in (q, k, v)]
    _check(out, *rounded, causal=True)
    with torch.autocast("cpu", enabled=False):
        assert sqa_attention(q, k, v).dtype == torch.float32


def test_jit_trace():
    # The trace records the attention (an autograd.Function node on torch
    # 1.13, the sqa::attention op on torch >= 2.4) with its heads and head
    # dims as constants; batch and sequence lengths stay free, as in the IR.
    q, k, v = _inputs(4, 2, 8, 8, 16, torch.float32, batch=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(lambda q, k, v: sqa_attention(q, k, v, causal=True),
                                 (q, k, v), check_trace=False)
    q, k, v = _inputs(4, 2, 11, 13, 16, torch.float32, batch=2, seed=1)
    _check(traced(q, k, v), q, k, v, causal=True)


newtorch = pytest.mark.skipif(
    not _CUSTOM_OPS,
    reason=f"torch {torch.__version__} has no torch.library.custom_op/register_autograd "
           "(torch >= 2.4): sqa_attention is an autograd.Function there")


@newtorch
@pytest.mark.parametrize("hq, hkv, layout, mask, window, dtype", [
    (4, 2, "bhsd", "causal_bottom_right", None, torch.float32),
    # Reverse SQA (the fake's output heads are the key/value heads), the
    # [B, S, H, D] layout, a window, a half type, no lse.
    (2, 8, "bshd", "none", [3, 1], torch.bfloat16)])
def test_custom_op_passes_opcheck(hq, hkv, layout, mask, window, dtype):
    q, k, v = _inputs(hq, hkv, 6, 7, 16, dtype)
    if layout == "bshd":
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # strided, as a user's views
    q, k, v = (t.requires_grad_(True) for t in (q, k, v))
    with_lse = layout == "bhsd"
    torch.library.opcheck(torch.ops.sqa.attention.default,
                          (q, k, v, mask, window, None, layout, with_lse))
    # The backward op on its own, with the forward's outputs.
    out, lse = torch.ops.sqa.attention(q, k, v, mask, window, None, layout, True)
    dout = torch.randn_like(out)
    torch.library.opcheck(torch.ops.sqa.attention_backward.default,
                          (q.detach(), k.detach(), v.detach(), out.detach(), dout, lse, mask,
                           window, None, layout))
    # Called without the lse on inputs that need gradients, the op's
    # backward computes it again: the same gradients as with it.
    grads = [torch.autograd.grad(torch.ops.sqa.attention(q, k, v, mask, window, None, layout,
                                                         with_lse)[0], (q, k, v), dout)
             for with_lse in (False, True)]
    assert all(torch.equal(a, b) for a, b in zip(*grads))


# Selected by gpu-check.sh (-m gpu) too: the GPU machine has torch >= 2.4.
@pytest.mark.gpu
@newtorch
def test_meta_tensors():
    q = torch.empty(2, 8, 5, 16, device="meta")
    k = torch.empty(2, 4, 9, 16, device="meta")
    out, lse = sqa_attention(q, k, k, causal=True, return_lse=True)
    assert out.device.type == "meta" and out.shape == (2, 8, 5, 16)
    assert lse.shape == (2, 8, 5) and lse.dtype == torch.float32
    bshd = sqa_attention(q.transpose(1, 2), k.transpose(1, 2), k.transpose(1, 2), layout="bshd")
    assert bshd.shape == (2, 5, 8, 16)


@newtorch
def test_torch_compile_and_export():
    q, k, v = _inputs(4, 2, 8, 8, 16, torch.float32)
    attend = lambda q, k, v: sqa_attention(q, k, v, causal=True) * 2.0
    compiled = torch.compile(attend, fullgraph=True)
    assert torch.allclose(compiled(q, k, v), attend(q, k, v))

    class Layer(torch.nn.Module):
        def forward(self, q, k, v):
            return sqa_attention(q, k, v, window=(2, 0))

    exported = torch.export.export(Layer(), (q, k, v))
    assert "sqa.attention" in str(exported.graph)
    assert torch.allclose(exported.module()(q, k, v), Layer()(q, k, v))


@newtorch
def test_torch_compile_backward_and_dynamic_shapes():
    # Inductor (the default backend) around the opaque op, forward and
    # backward; then other batch sizes, sequence lengths and head counts
    # without a recompile: the wrapper and the fake implementation keep
    # every size symbolic (the real op alone builds a kernel configuration).
    # The first call's sizes differ from each other, so that Dynamo's duck
    # sizing relates none of them.
    torch.compiler.reset()
    attend = lambda q, k, v: sqa_attention(q, k, v, causal=True) * 2.0
    compiled = torch.compile(attend, fullgraph=True, dynamic=True)
    grads = []
    for run in (attend, compiled):
        q, k, v = (t.requires_grad_(True) for t in _inputs(4, 2, 9, 10, 16, torch.float32, batch=3))
        out = run(q, k, v)
        out.backward(torch.linspace(-1.0, 1.0, out.numel()).reshape(out.shape))
        grads.append([out.detach(), q.grad, k.grad, v.grad])
    for eager, got in zip(*grads):
        assert torch.equal(got, eager)  # the same CPU kernels, exact products by 2
    with torch._dynamo.config.patch(error_on_recompile=True):
        q, k, v = (t.requires_grad_(True)
                   for t in _inputs(8, 2, 11, 13, 16, torch.float32, batch=5, seed=2))
        _check(compiled(q, k, v) / 2.0, q, k, v, causal=True)


@pytest.mark.skipif(not _CUSTOM_OPS or not hasattr(torch.library, "register_vmap"),
                    reason=f"torch {torch.__version__} has no torch.library.register_vmap "
                           "(torch >= 2.5)")
def test_vmap(monkeypatch):
    # The mapped dim folds into the batch: one kernel call, where torch's
    # fallback makes one per entry; the same result as a loop; an unmapped
    # k and v too.
    import sqa.pytorch as front_end
    calls = []
    forward = front_end._forward
    monkeypatch.setattr(front_end, "_forward", lambda *a, **kw: calls.append(1) or forward(*a, **kw))
    q, k, v = _inputs(4, 2, 6, 7, 16, torch.float32, batch=6)
    q3, k3, v3 = (t.reshape(3, 2, *t.shape[1:]) for t in (q, k, v))
    attend = lambda q, k, v: sqa_attention(q, k, v, causal="bottom_right", return_lse=True)
    out, lse = torch.vmap(attend)(q3, k3, v3)
    shared = torch.vmap(attend, in_dims=(1, None, None))(q3.transpose(0, 1), k3[0], v3[0])
    assert len(calls) == 2
    want_out, want_lse = attend(q, k, v)
    assert torch.equal(out.reshape(want_out.shape), want_out)
    assert torch.equal(lse.reshape(want_lse.shape), want_lse)
    for i in range(3):
        assert torch.equal(shared[0][i], attend(q3[i], k3[0], v3[0])[0])


@newtorch
def test_torch_func_grad_is_refused_by_torch():
    # The stated limit (docs/python.md), pinned: torch's custom-op autograd (2.6)
    # refuses functorch's differentiating transforms. Should a torch take
    # them, this fails and the sentence goes.
    q, k, v = _inputs(4, 2, 6, 7, 16, torch.float32)
    with pytest.raises(RuntimeError, match="setup_context"):
        torch.func.grad(lambda q: sqa_attention(q, k, v).sum())(q)


@newtorch
def test_torch_export_with_dynamic_shapes():
    class Layer(torch.nn.Module):
        def forward(self, q, k, v):
            return sqa_attention(q, k, v, causal="bottom_right", window=(3, 0))

    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
    exported = torch.export.export(Layer(), _inputs(8, 2, 9, 9, 16, torch.float32),
                                   dynamic_shapes=[{0: batch, 2: seq}] * 3)
    q, k, v = _inputs(8, 2, 21, 21, 16, torch.float32, batch=1, seed=3)
    _check(exported.module()(q, k, v), q, k, v, causal="bottom_right", window=(3, 0))


@pytest.mark.skipif(not hasattr(torch.nn.functional, "scaled_dot_product_attention"),
                    reason=f"torch {torch.__version__} has no scaled_dot_product_attention "
                           "(torch >= 2.0)")
def test_sdpa_shaped_entry_point_matches_torch_sdpa():
    # The contract, checked against torch's own SDPA on the CPU: top-left
    # is_causal with L != S, the scale, key/value heads shared by query
    # groups (expanded for torch's SDPA, which has enable_gqa from 2.5 on).
    sdpa = torch.nn.functional.scaled_dot_product_attention
    for causal, scale in [(True, None), (False, 0.3)]:
        q, k, v = _inputs(8, 2, 7, 12, 16, torch.float32, seed=4)
        got = scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale,
                                           enable_gqa=True)
        kx, vx = (t.repeat_interleave(4, dim=1) for t in (k, v))
        kwargs = {} if scale is None else {"scale": scale}
        want = sdpa(q, kx, vx, is_causal=causal, **kwargs)
        # Both f32 from the same f32 inputs: each within the f32 tolerance of
        # the exact result (_check), so within twice it of each other.
        _check(got, q, k, v, causal=causal, scale=scale)
        tolerance = 2 * ABS_TOLERANCE["f32"] * torch.clamp(want.abs(), min=1.0)
        assert ((got - want).abs() <= tolerance).all()


# The custom ops on CUDA tensors, for the GPU machine (torch 2.11, no sqa
# tools: the CPU versions above need sqa-run). One gradient call of
# gpu_cases.GRAD_CALLS, whose forward-with-lse and backward kernels are in the
# bundle.
_OP_CALL = next(c for c in GRAD_CALLS if c.name == "SQA")


def _op_inputs(call, requires_grad):
    tensors = _inputs(call.hq, call.hkv, call.sq, call.skv, call.d, _TORCH[call.dtype], "cuda")
    return [t.requires_grad_(requires_grad) for t in tensors]


@gpu
@newtorch
def test_custom_op_on_gpu_passes_opcheck():
    q, k, v = _op_inputs(_OP_CALL, True)
    torch.library.opcheck(torch.ops.sqa.attention.default,
                          (q, k, v, _MASKS[_OP_CALL.causal], None, None, "bhsd", True))


@gpu
def test_autocast_on_gpu():
    # f32 CUDA inputs under autocast run the f16/bf16 tensor-core kernel, as
    # SDPA's do: the result is that of the inputs cast first, bit for bit.
    # (Inputs that need gradients: the bundle holds this call's kernels with
    # the lse, which a backward needs.)
    call = _OP_CALL
    q, k, v = (t.detach().float().requires_grad_(True) for t in _op_inputs(call, False))
    with torch.autocast("cuda", dtype=_TORCH[call.dtype]):
        out = sqa_attention(q, k, v, causal=call.causal)
    assert out.dtype == _TORCH[call.dtype]
    cast = [t.detach().to(_TORCH[call.dtype]).requires_grad_(True) for t in (q, k, v)]
    assert torch.equal(out, sqa_attention(*cast, causal=call.causal))
    out.float().sum().backward()
    assert q.grad.dtype == torch.float32 and torch.isfinite(q.grad).all()


@gpu
@newtorch
def test_torch_compile_and_export_on_gpu():
    # aot_eager: Dynamo and AOTAutograd through the ops' fake implementations
    # and autograd formula, without Inductor's code generation (minutes of
    # the GPU check's budget; the ops are opaque to it anyway).
    call = _OP_CALL
    attend = lambda q, k, v: sqa_attention(q, k, v, causal=call.causal) * 2.0
    compiled = torch.compile(attend, backend="aot_eager", fullgraph=True)
    eager_inputs, compiled_inputs = _op_inputs(call, True), _op_inputs(call, True)
    eager, got = attend(*eager_inputs), compiled(*compiled_inputs)
    assert torch.equal(got, eager)
    dout = torch.randn_like(eager)
    eager.backward(dout)
    got.backward(dout)
    for a, b in zip(compiled_inputs, eager_inputs):
        assert torch.equal(a.grad, b.grad)  # the same kernels, a fixed order

    class Layer(torch.nn.Module):
        def forward(self, q, k, v):
            return sqa_attention(q, k, v, causal=call.causal)

    q, k, v = _op_inputs(call, False)
    exported = torch.export.export(Layer(), (q, k, v))
    assert "sqa.attention" in str(exported.graph)
    assert torch.equal(exported.module()(q, k, v), Layer()(q, k, v))


def test_errors():
    q, k, v = _inputs(4, 4, 8, 8, 16, torch.float32)
    with pytest.raises(TypeError, match="dtype torch.int32"):
        sqa_attention(q.to(torch.int32), k, v)
    with pytest.raises(TypeError, match="share a dtype"):
        sqa_attention(q.to(torch.float16), k, v)
    with pytest.raises(ValueError, match="4 dimensions"):
        sqa_attention(q[0], k, v)
    with pytest.raises(ValueError, match="must divide the other"):
        sqa_attention(*_inputs(3, 2, 8, 8, 16, torch.float32))
    with pytest.raises(ValueError, match="head dims differ"):
        sqa_attention(q, k[..., :8], v)
    with pytest.raises(ValueError, match="batch sizes differ"):
        sqa_attention(q, k[:1], v[:1])
    with pytest.raises(ValueError, match="causal must be"):
        sqa_attention(q, k, v, causal="diagonal")
    with pytest.raises(ValueError, match="window must be"):
        sqa_attention(q, k, v, window=(-2, 0))
    with pytest.raises(ValueError, match="window must be a pair"):
        sqa_attention(q, k, v, window=4)
    with pytest.raises(ValueError, match="window must be a pair"):
        sqa_attention(q, k, v, window=(True, 0))
    # The verifier's rule on scale, checked before any IR is written (a NaN
    # had reached the IR's text and failed to parse).
    for bad in (-1.0, 0.0, float("nan"), float("inf"), "a", True):
        with pytest.raises(ValueError, match="scale must be a positive finite number"):
            sqa_attention(q, k, v, scale=bad)
    _check(sqa_attention(q, k, v, scale=torch.tensor(0.5)), q, k, v, scale=0.5)
    with pytest.raises(ValueError, match="layout must be"):
        sqa_attention(q, k, v, layout="sbhd")
    with pytest.raises(ValueError, match="one of num_query_heads"):
        SparseQueryAttention(64, num_query_heads=3, num_kv_heads=2, head_dim=16)
    with pytest.raises(ValueError, match="expected \\[batch, seq, 64\\]"):
        SparseQueryAttention(64, num_query_heads=4, num_kv_heads=4, head_dim=16)(
            torch.randn(2, 8, 32))
    with pytest.raises(ValueError, match="SparseQueryAttention: window must be a pair"):
        SparseQueryAttention(64, num_query_heads=4, num_kv_heads=4, head_dim=16, window=4)
    with pytest.raises(ValueError, match="SparseQueryAttention: scale must be"):
        SparseQueryAttention(64, num_query_heads=4, num_kv_heads=4, head_dim=16, scale=-1)
    with pytest.raises(ValueError, match="SparseQueryAttention: causal must be"):
        SparseQueryAttention(64, num_query_heads=4, num_kv_heads=4, head_dim=16, causal="yes")
    # Sizes of 0 (they had divided by zero, or reached the verifier through
    # a temporary file); empty batches and sequences are fine.
    with pytest.raises(ValueError, match="SparseQueryAttention: num_query_heads must be a "
                                         "positive int, not 0"):
        SparseQueryAttention(64, num_query_heads=0, num_kv_heads=4, head_dim=16)
    with pytest.raises(ValueError, match="SparseQueryAttention: head_dim must be a positive int"):
        SparseQueryAttention(64, num_query_heads=4, num_kv_heads=4, head_dim=16.0)
    with pytest.raises(ValueError, match="the query heads must be at least 1, got 0"):
        sqa_attention(q[:, :0], k, v)
    with pytest.raises(ValueError, match="the head dim must be at least 1, got 0"):
        sqa_attention(q[..., :0], k[..., :0], v)
    assert sqa_attention(q[:0], k[:0], v[:0]).shape == (0, 4, 8, 16)
    assert sqa_attention(q[:, :, :0], k, v).shape == (2, 4, 0, 16)
    # Window sides past int64 (the op's attribute) are refused, not misparsed.
    with pytest.raises(ValueError, match=r"window must be a pair .* \[-1, 2\*\*63 - 1\]"):
        sqa_attention(q, k, v, window=(2**63, 0))
    bshd = [t.transpose(1, 2) for t in (q, k, v)]
    with pytest.raises(ValueError, match="flash_attn_func: causal must be a bool"):
        flash_attn_func(*bshd, causal="yes")
    with pytest.raises(ValueError, match=r"flash_attn_func: k must be \[batch, seqlen, heads"):
        flash_attn_func(bshd[0], bshd[1][0], bshd[2])
    # Head counts by keyword only: rxlm's positional order cannot be misread.
    with pytest.raises(TypeError):
        SparseQueryAttention(128, 8, 4, 16)


# (name, Hq, Hkv, Sq, Skv, D, dtype, causal, window, layout): every head
# mapping of the paper and reverse SQA both ways, both causal alignments,
# windows, Sq != Skv both ways (Sq > Skv bottom-right: rows without keys),
# f32/f16/bf16 and the [B, S, H, D] layout.
_GRAD_CASES = [
    ("MHA", 16, 16, 9, 9, 16, torch.float32, False, None, "bhsd"),
    ("GQA", 16, 4, 7, 12, 16, torch.float32, "bottom_right", None, "bhsd"),
    ("MQA", 16, 1, 12, 7, 8, torch.float32, "bottom_right", None, "bhsd"),
    ("SQA", 8, 4, 10, 10, 16, torch.float32, True, None, "bhsd"),
    ("sSQA", 8, 8, 10, 13, 16, torch.float32, False, (3, 1), "bhsd"),
    ("xSQA", 4, 4, 10, 10, 16, torch.float16, True, None, "bhsd"),
    ("xSMQA", 4, 1, 9, 14, 16, torch.bfloat16, "bottom_right", None, "bhsd"),
    ("lSQA", 12, 4, 8, 11, 16, torch.float32, False, None, "bshd"),
    ("rSQA", 4, 8, 11, 8, 16, torch.float32, "bottom_right", (2, 0), "bhsd"),
    ("rSQA-1/4", 1, 4, 9, 9, 16, torch.float32, True, None, "bshd"),
]


@pytest.mark.parametrize("case", _GRAD_CASES, ids=lambda c: c[0])
def test_gradients_on_cpu(case):
    """q.grad, k.grad, v.grad of sum(dout * out) against the float64 NumPy
    gradients. Tolerance: twice numerics.grad_error_bound (the worst-case f32
    error of each step of the backward, from the magnitudes) with the
    forward's own tested tolerances as the errors of the out and lse it
    saved (ABS_TOLERANCE * max(1, |out|) and 1e-4), plus 2 ulp of the
    gradient's type relative to |ref|."""
    _check_gradients(case, "cpu")


@gpu
@pytest.mark.parametrize("call", GRAD_CALLS, ids=str)
def test_gradients_on_gpu(call):
    """The same check on CUDA tensors, through the sm_80 backward kernels;
    the bound adds the rounding of P and dS to the input type before the
    products that use them (numerics.grad_error_bound's operand_unit)."""
    _check_gradients((call.name, call.hq, call.hkv, call.sq, call.skv, call.d,
                      _TORCH[call.dtype], call.causal, call.window, call.layout), "cuda")


def _check_gradients(case, device):
    from numerics import LSE_TOLERANCE, UNIT, grad_error_bound
    name, hq, hkv, sq, skv, d, dtype, causal, window, layout = case
    q, k, v = (t.to(device) for t in _inputs(hq, hkv, sq, skv, d, dtype))
    gen = torch.Generator().manual_seed(1)
    dout = torch.randn(2, max(hq, hkv), sq, d, generator=gen).to(dtype).to(device)
    leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
    args = leaves if layout == "bhsd" else [t.transpose(1, 2) for t in leaves]
    out = sqa_attention(*args, causal=causal, window=window, layout=layout)
    (out if layout == "bhsd" else out.transpose(1, 2)).backward(dout)
    as64 = lambda t: t.detach().cpu().to(torch.float64).numpy()
    mask = _MASKS[causal]
    refs = attention_grad_reference(as64(q), as64(k), as64(v), as64(dout), mask, window)
    ref_out, ref_lse = attention_reference(as64(q), as64(k), as64(v), mask, window)
    got_out = as64(out if layout == "bhsd" else out.transpose(1, 2))
    bounds = grad_error_bound(as64(q), as64(k), as64(v), got_out, as64(dout), ref_lse, mask,
                              window, 1.0 / np.sqrt(d),
                              ABS_TOLERANCE[_NAMES[dtype]] * np.maximum(1.0, np.abs(ref_out)),
                              LSE_TOLERANCE,
                              UNIT[_NAMES[dtype]] if device == "cuda" else 0.0)
    for leaf, ref, bound, what in zip(leaves, refs, bounds, "qkv"):
        assert leaf.grad is not None and leaf.grad.dtype == dtype, what
        got = as64(leaf.grad)
        assert got.shape == ref.shape and np.all(np.isfinite(got)), what
        tolerance = 2 * bound + ABS_TOLERANCE[_NAMES[dtype]] * np.abs(ref)
        err = np.abs(got - ref)
        assert np.all((err <= tolerance) | ((tolerance == 0) & (err == 0))), \
            f"d{what}: worst {float((err / np.maximum(tolerance, 1e-300)).max()):.2f} x tolerance"


def _torch_attention64(q, k, v, causal):
    """Attention in float64 with plain torch ops (heads expanded, the mask as
    a matrix): an independent path for autograd to differentiate."""
    hq, hkv = q.shape[1], k.shape[1]
    if hq >= hkv:
        k, v = (t.repeat_interleave(hq // hkv, dim=1) for t in (k, v))
    else:
        q = q.repeat(1, hkv // hq, 1, 1)
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    if causal:
        sq, skv = scores.shape[-2:]
        visible = torch.ones(sq, skv, dtype=torch.bool).tril()
        scores = scores.masked_fill(~visible, float("-inf"))
    return scores.softmax(-1) @ v


@pytest.mark.parametrize("name", ["xSQA", "rSQA"])
def test_module_trains_on_cpu(name):
    """A few SGD steps of a tiny SQA model: at each step the parameter
    gradients match a float64 recomputation of the same model through plain
    torch attention (1e-4 relative to the largest gradient: f32 forward and
    backward over d_model 64), and the loss goes down."""
    torch.manual_seed(0)
    layer = SparseQueryAttention.from_variant(name, d_model=64, causal=True)
    x = torch.randn(2, 12, 64)
    target = torch.randn(2, 12, 64)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    losses = []
    for _ in range(3):
        optimizer.zero_grad()
        loss = ((layer(x) - target) ** 2).mean()
        loss.backward()
        losses.append(loss.item())
        # The same parameters in float64, through torch's own attention.
        params64 = {n: p.detach().double().requires_grad_(True)
                    for n, p in layer.named_parameters()}
        x64 = x.double()
        batch, seq, _ = x.shape
        heads = lambda t, h: t.view(batch, seq, h, layer.head_dim).transpose(1, 2)
        q = heads(x64 @ params64["q_proj.weight"].T, layer.num_query_heads)
        k = heads(x64 @ params64["k_proj.weight"].T, layer.num_kv_heads)
        v = heads(x64 @ params64["v_proj.weight"].T, layer.num_kv_heads)
        att = _torch_attention64(q, k, v, causal=True).transpose(1, 2).reshape(batch, seq, -1)
        loss64 = ((att @ params64["o_proj.weight"].T - target.double()) ** 2).mean()
        loss64.backward()
        for n, p in layer.named_parameters():
            ref = params64[n].grad
            scale = ref.abs().max().item()
            assert torch.allclose(p.grad.double(), ref, rtol=0, atol=1e-4 * scale), n
        optimizer.step()
    assert losses[-1] < losses[0]


def test_backward_errors():
    # Without inputs that need gradients, nothing is saved and no lse is
    # computed; the result does not require grad.
    q, k, v = _inputs(4, 4, 8, 8, 16, torch.float32)
    assert not sqa_attention(q, k, v).requires_grad
    # A higher-order gradient (a gradient penalty, say) raises where it is
    # taken; the first-order gradients under create_graph are the usual ones
    # and stay connected to the inputs, never constants that would silently
    # drop the penalty's term.
    q.requires_grad_(True)
    out = sqa_attention(q, k, v, causal=True)
    grad, = torch.autograd.grad(out.sum(), q, create_graph=True)
    expected, = torch.autograd.grad(sqa_attention(q, k, v, causal=True).sum(), q)
    assert grad.requires_grad and torch.equal(grad.detach(), expected)
    with pytest.raises(RuntimeError, match="higher-order gradients are not supported"):
        (grad ** 2).sum().backward()


def _sdpa_reference(q, k, v, causal, window):
    """PyTorch SDPA in float32 with the heads expanded (the GPU oracle)."""
    hq, hkv = q.shape[1], k.shape[1]
    q, k, v = (t.float() for t in (q, k, v))
    if hq >= hkv:
        k = k.repeat_interleave(hq // hkv, dim=1)
        v = v.repeat_interleave(hq // hkv, dim=1)
    else:
        q = q.repeat(1, hkv // hq, 1, 1)
    sq, skv = q.shape[2], k.shape[2]
    i = torch.arange(sq, device=q.device)[:, None]
    j = torch.arange(skv, device=q.device)[None, :]
    visible = torch.ones(sq, skv, dtype=torch.bool, device=q.device)
    if _MASKS[causal] == "causal_top_left":
        visible &= j <= i
    elif _MASKS[causal] == "causal_bottom_right":
        visible &= j <= i + skv - sq
    if window is not None:
        left, right = window
        diag = i + skv - sq
        if left >= 0:
            visible &= j >= diag - left
        if right >= 0:
            visible &= j <= diag + right
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=visible)
    # SDPA gives NaN for rows that see no key; sqa.attention gives zeros.
    return torch.where(visible.any(-1)[None, None, :, None], out, torch.zeros_like(out))


@gpu
@pytest.mark.parametrize("call", VARIANT_CALLS, ids=str)
def test_variants_on_gpu(call):
    dtype = _TORCH[call.dtype]
    q, k, v = _inputs(call.hq, call.hkv, call.sq, call.skv, call.d, dtype, device="cuda")
    out = sqa_attention(q, k, v, causal=call.causal, window=call.window)
    ref = _sdpa_reference(q, k, v, call.causal, call.window)
    tolerance = ABS_TOLERANCE[call.dtype] * torch.clamp(ref.abs(), min=1.0)
    assert ((out.float() - ref).abs() <= tolerance).all()


@gpu
@pytest.mark.parametrize("call", HEAD_DIM_CALLS, ids=str)
def test_head_dims_and_layouts_on_gpu(call):
    q, k, v = _inputs(call.hq, call.hkv, call.sq, call.skv, call.d, _TORCH[call.dtype],
                      device="cuda")
    ref = _sdpa_reference(q, k, v, call.causal, None)
    tolerance = ABS_TOLERANCE[call.dtype] * torch.clamp(ref.abs(), min=1.0)
    out = sqa_attention(q, k, v, causal=call.causal)
    assert ((out.float() - ref).abs() <= tolerance).all()
    bshd = [t.transpose(1, 2).contiguous() for t in (q, k, v)]
    out = sqa_attention(*bshd, causal=call.causal, layout="bshd").transpose(1, 2)
    assert ((out.float() - ref).abs() <= tolerance).all()


@gpu
def test_module_on_gpu():
    call = MODULE_CALL
    torch.manual_seed(0)
    layer = SparseQueryAttention.from_variant(call.name, d_model=256, causal=call.causal,
                                              device="cuda", dtype=_TORCH[call.dtype])
    assert (layer.num_query_heads, layer.num_kv_heads, layer.head_dim) == (call.hq, call.hkv, call.d)
    x = torch.randn(2, call.sq, 256, device="cuda", dtype=_TORCH[call.dtype])
    with torch.no_grad():
        y = layer(x)
    assert y.shape == (2, call.sq, 256) and torch.isfinite(y).all()
