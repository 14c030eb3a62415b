"""Kernel libraries from Python: build (cached), load with ctypes, launch.

Without a GPU the CUDA driver is the toolkit's stub library, loaded here as
libcuda.so.1 where no real driver exists, so these tests check everything up
to the driver: the build and its cache (no CUDA toolkit needed), the ctypes
bindings and the launcher's argument checks, which must fail before any
driver call. The driver-less case runs in a fresh process (test_bundle.py).
"""

import ctypes
import os
import subprocess
import sys
import threading

import pytest

import sqa.library as sqa_library
from sqa import variant
from sqa.library import (STATUS_ERROR_CUDA, KernelLibrary, LaunchError, Tensor,
                         build_library, config_key, config_spec, parse_config_key)
from sqa.tools import ToolError
from sqa.trust import IntegrityError, UntrustedPathError, verify_record

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


def test_cache_repairs_what_it_cannot_verify(tmp_path):
    """A truncated (SIGBUS when mapped), emptied or replaced shared object,
    or a library manifest that is not JSON, is found by the RECORD and
    rebuilt, never loaded. (Damage happens before this process maps the
    library: truncating a file a process has mapped kills that process, as
    it would any program.)"""
    configs = {"xsqa": variant("xSQA", head_dim=16, dtype="bf16")}
    cache = str(tmp_path)
    directory = build_library(configs, cache_dir=cache)
    so = os.path.join(directory, "libsqa_kernels.so")
    size = os.path.getsize(so)
    # Loading a damaged library directly refuses it before mapping it.
    os.truncate(so, size // 2)
    with pytest.raises(IntegrityError, match="bytes, its RECORD.json says"):
        KernelLibrary(directory)
    damages = [lambda: None, lambda: os.truncate(so, 0),
               lambda: open(so, "r+b").write(b"\0" * 64),
               lambda: open(os.path.join(directory, "sqa_kernels.json"), "w").write("{oops"),
               lambda: os.remove(os.path.join(directory, "RECORD.json"))]
    for damage in damages:
        damage()
        assert build_library(configs, cache_dir=cache) == directory
        assert os.path.getsize(so) == size
        verify_record(directory, required=["libsqa_kernels.so", "sqa_kernels.json"])
    assert sorted(KernelLibrary(directory).kernels) == ["xsqa"]


def test_cache_refuses_another_users_library(tmp_path):
    """A library planted under a cache key (anyone can compute the key) is
    not loaded: it has no RECORD of ours, and a cache directory that is
    not the caller's, or that others can write, is refused."""
    configs = {"mha": variant("MHA", head_dim=16)}
    cache = tmp_path / "cache"
    directory = build_library(configs, cache_dir=str(cache))
    # Planted: another shared object and a RECORD that does not describe it.
    planted = os.path.join(directory, "libsqa_kernels.so")
    with open(planted, "wb") as f:
        f.write(b"\x7fELF planted")
    assert build_library(configs, cache_dir=str(cache)) == directory
    assert open(planted, "rb").read(12) != b"\x7fELF planted"
    os.chmod(cache, 0o777)
    with pytest.raises(UntrustedPathError, match="writable by others"):
        build_library(configs, cache_dir=str(cache))
    os.chmod(cache, 0o700)
    if os.geteuid() == 0:
        os.chown(cache, 65534, 65534)
        with pytest.raises(UntrustedPathError, match="owned by uid 65534"):
            build_library(configs, cache_dir=str(cache))
        os.chown(cache, 0, 0)
        # A library another user owns in our directory is not loaded.
        os.chown(planted, 65534, 65534)
        with pytest.raises(UntrustedPathError, match="owned by uid 65534"):
            KernelLibrary(directory)


def test_unusable_default_cache_falls_back(tmp_path, monkeypatch):
    """A default cache that cannot be made (HOME=/nonexistent, read-only,
    a file in the way) or is not private: a private directory of this
    process instead, with a warning; an explicit one raises."""
    monkeypatch.setattr(sqa_library, "_FALLBACK_CACHE", None)
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("SQA_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="is not usable"):
        root = sqa_library.cache_root()
    assert root != str(blocker / "cache") and os.stat(root).st_mode & 0o777 == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setenv("SQA_CACHE_DIR", str(shared))
    assert sqa_library.cache_root() == root
    with pytest.raises(OSError):
        sqa_library.cache_root(str(blocker / "cache"))


def test_threads_build_a_key_once(tmp_path, monkeypatch):
    """Threads of one process building one key: one compiles, the others
    wait for it and load the same library (they had shared a staging
    directory and 3 or 4 of 4 failed)."""
    runs = []
    real_run = sqa_library._run

    def counting_run(cmd, timeout=None):
        runs.append(os.path.basename(cmd[0]))
        return real_run(cmd, timeout)

    monkeypatch.setattr(sqa_library, "_run", counting_run)
    configs = {"g": variant("GQA", head_dim=32, dtype="f16")}
    results, errors = [], []

    def build():
        try:
            results.append(build_library(configs, cache_dir=str(tmp_path)))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(results)) == 1 and len(results) == 4
    assert runs.count("sqa-compile") == 1
    assert sorted(os.listdir(tmp_path)) == sorted(
        [os.path.basename(os.path.dirname(results[0])),
         os.path.basename(os.path.dirname(results[0])) + ".lock"])


def test_cc_is_a_command_line(tmp_path, monkeypatch):
    """$CC may carry words (CC="ccache gcc"), as make reads it."""
    monkeypatch.setenv("CC", "/usr/bin/env gcc")
    directory = build_library({"m": variant("MQA", head_dim=16)}, cache_dir=str(tmp_path))
    assert "m" in KernelLibrary(directory).kernels
    monkeypatch.setenv("CC", "/nonexistent/cc")
    with pytest.raises(ToolError, match="cannot run /nonexistent/cc"):
        build_library({"m": variant("MQA", head_dim=32)}, cache_dir=str(tmp_path))


def test_processes_build_a_key_once(tmp_path):
    """Processes building one key: one compiles, the others wait on the
    key's lock and load its library (each had built it before)."""
    real = sqa_library.find_tool("sqa-compile")
    wrapper = tmp_path / "tools" / "bin"
    wrapper.mkdir(parents=True)
    log = tmp_path / "runs.log"
    (wrapper / "sqa-compile").write_text(
        f"#!/bin/sh\n[ \"$1\" = --version ] || echo run >> {log}\nexec {real} \"$@\"\n")
    (wrapper / "sqa-compile").chmod(0o755)
    code = ("import sys; from sqa import variant; from sqa.library import build_library, "
            "KernelLibrary; d = build_library({'g': variant('GQA', head_dim=16)}, "
            "cache_dir=sys.argv[1]); print(sorted(KernelLibrary(d).kernels))")
    env = dict(os.environ, SQA_BUILD_DIR=str(tmp_path / "tools"),
               PYTHONPATH=os.path.dirname(os.path.dirname(sqa_library.__file__)))
    children = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "cache")],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(3)]
    outputs = [child.communicate() for child in children]
    assert [child.returncode for child in children] == [0, 0, 0], outputs
    assert [out for out, _ in outputs] == ["['g']\n"] * 3
    assert log.read_text() == "run\n"
