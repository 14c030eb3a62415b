"""Kernel libraries from Python: build (cached), load with ctypes, launch.

Without a GPU the CUDA driver is the toolkit's stub library, loaded here as
libcuda.so.1 where no real driver exists, so these tests check everything up
to the driver: the build and its cache (no CUDA toolkit needed), the ctypes
bindings and the launcher's argument checks, which must fail before any
driver call. The driver-less case runs in a fresh process (test_bundle.py).
"""

import ctypes
import os

import pytest

from sqa import variant
from sqa.library import (STATUS_ERROR_CUDA, KernelLibrary, LaunchError, Tensor,
                         build_library, config_key, config_spec, parse_config_key)

CUDA_STUB = "/usr/local/cuda/lib64/stubs/libcuda.so"


def _driver_or_stub():
    """Loads libcuda.so.1, or the toolkit's stub in its place; the path of
    the stub when that is what got loaded, None for a real driver, and
    skips where there is neither."""
    try:
        ctypes.CDLL("libcuda.so.1", mode=ctypes.RTLD_GLOBAL)
        return None
    except OSError:
        pass
    if not os.path.exists(CUDA_STUB):
        pytest.skip("no CUDA driver and no CUDA toolkit stub")
    # The stub's soname is libcuda.so.1: loaded first, it is what the
    # launcher's dlopen("libcuda.so.1") finds.
    ctypes.CDLL(CUDA_STUB, mode=ctypes.RTLD_GLOBAL)
    return CUDA_STUB


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    configs = {"xsqa": variant("xSQA", head_dim=16, dtype="bf16", mask="causal_bottom_right"),
               "rsqa": variant("rSQA", head_dim=64, dtype="f16", with_lse=True)}
    directory = build_library(configs, cache_dir=str(cache))
    return KernelLibrary(directory), directory, configs, str(cache)


def _contiguous(data, shape):
    strides, step = [], 1
    for size in reversed(shape):
        strides.insert(0, step)
        step *= size
    return Tensor.make(data, shape, strides)


def test_backward_configs(tmp_path):
    """A backward configuration (grad[=T]) round-trips through its key and
    builds a library entry that takes q, k, v, out, dout, lse, dq, dk, dv;
    the launcher checks its arguments before any driver call."""
    cfg = parse_config_key("hq=8,hkv=4,d=64,dtype=f16,mask=causal_bottom_right,grad")
    assert cfg.grad_dtype == "f16" and not cfg.with_lse
    assert config_key(parse_config_key(config_key(cfg))) == config_key(cfg)
    assert parse_config_key("hq=4,hkv=8,d=32,dtype=bf16,grad=f32").grad_dtype == "f32"
    library = KernelLibrary(build_library({"bwd": cfg}, cache_dir=str(tmp_path)))
    info = library.kernels["bwd"]
    assert info["backward"] and info["grad_dtype"] == "f16"
    assert info["tensors"] == ["q", "k", "v", "out", "dout", "lse", "dq", "dk", "dv"]
    assert [launch["ptx"] for launch in info["launches"]] == ["bwd_0.ptx", "bwd_1.ptx"]
    with pytest.raises(ValueError, match="takes 9 tensors, got 4"):
        library.launch("bwd", [_contiguous(0x10000, [1, 8, 16, 64])] * 4)
    q = _contiguous(0x10000, [1, 8, 16, 64])
    k = _contiguous(0x10000, [1, 4, 32, 64])
    lse = _contiguous(0x10000, [1, 8, 17])  # one row too many
    with pytest.raises(LaunchError, match="tensor sizes do not match"):
        library.launch("bwd", [q, k, k, q, q, lse, q, k, k])


def test_config_spec():
    cfg = variant("GQA", head_dim=128, dtype="bf16", window=(128, 0), scale=0.5, with_lse=True)
    assert config_spec("g", cfg) == (
        "g:hq=16,hkv=4,d=128,dv=128,dtype=bf16,out=bf16,mask=none,window=128:0,scale=0.5,lse")


def test_build_is_cached(library):
    lib, directory, configs, cache = library
    so = os.path.join(directory, "libsqa_kernels.so")
    before = os.stat(so).st_mtime_ns
    assert build_library(configs, cache_dir=cache) == directory
    assert os.stat(so).st_mtime_ns == before
    # Another configuration is another library.
    other = build_library({"mha": variant("MHA", head_dim=32)}, cache_dir=cache)
    assert other != directory
    assert sorted(lib.kernels) == ["rsqa", "xsqa"]
    assert lib.kernels["rsqa"]["kv_heads"] == 8 and lib.kernels["rsqa"]["lse"]


def test_bad_arguments_fail_before_the_driver(library):
    lib = library[0]
    dev = 0x10000
    q = _contiguous(dev, (2, 4, 128, 16))
    with pytest.raises(LaunchError, match="null tensor or data pointer") as err:
        lib.launch("xsqa", [_contiguous(0, (2, 4, 128, 16)), q, q, q])
    assert err.value.status == 1
    with pytest.raises(LaunchError, match="do not match the kernel") as err:
        lib.launch("xsqa", [_contiguous(dev, (2, 8, 128, 16)), q, q, q])
    assert err.value.status == 3
    with pytest.raises(LaunchError, match="not aligned"):
        lib.launch("xsqa", [_contiguous(dev + 1, (2, 4, 128, 16)), q, q, q])
    strided = Tensor.make(dev, (2, 4, 128, 16), (8192, 2048, 16, 2))
    with pytest.raises(LaunchError, match="innermost stride"):
        lib.launch("xsqa", [strided, q, q, q])
    with pytest.raises(ValueError, match="takes 5 tensors"):
        lib.launch("rsqa", [q, q, q, q])
    with pytest.raises(KeyError):
        lib.launch("mha", [q, q, q, q])


def test_valid_arguments_reach_the_driver(library):
    lib = library[0]
    stub = _driver_or_stub()
    q = _contiguous(0x10000, (1, 4, 100, 64))
    kv = _contiguous(0x10000, (1, 8, 300, 64))
    out = _contiguous(0x10000, (1, 8, 100, 64))
    lse = _contiguous(0x10000, (1, 8, 100))
    if stub is None:
        pytest.skip("a real CUDA driver is present: the GPU tests launch")
    assert lib.load_driver() is None
    with pytest.raises(LaunchError, match="CUDA driver call failed") as err:
        lib.launch("rsqa", [q, kv, kv, out, lse])
    assert err.value.status == STATUS_ERROR_CUDA
    assert err.value.cuda_result == 34  # CUDA_ERROR_STUB_LIBRARY
