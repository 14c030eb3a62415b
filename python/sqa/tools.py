"""Compile and run sqa.attention through the project's tools.

The tools are looked up in $SQA_BUILD_DIR/bin, then in the repository's
build/bin (only when this package is the repository's own python/sqa, and
only from a trusted path: see sqa.trust), then on PATH. $SQA_BUILD_DIR and
PATH are the caller's choice and trusted as such.
"""

import os
import re
import shutil
import subprocess
import tempfile

import numpy as np

from .ir import emit_attention_grad_module, emit_attention_module
from .trust import untrusted_reason
from .variants import AttentionConfig

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_PACKAGE))


class ToolError(RuntimeError):
    """A tool failed; the message is its diagnostic."""


def _repository_tool(name):
    """The tool `name` of the repository's build tree, or None: only when
    this package is the repository's python/sqa (installed elsewhere, e.g.
    by `pip install --target /tmp/x`, the directory two levels up is
    anyone's: /tmp/build/bin) and the tool is on a trusted path."""
    if not os.path.isfile(os.path.join(_REPO, "CMakeLists.txt")) or \
            os.path.join(_REPO, "python", "sqa") != _PACKAGE:
        return None
    path = os.path.join(_REPO, "build", "bin", name)
    if not os.access(path, os.X_OK) or untrusted_reason(path) is not None:
        return None
    return path


def find_tool(name):
    """The path of the sqa tool `name`, of this package's version."""
    path = None
    if os.environ.get("SQA_BUILD_DIR"):
        path = os.path.join(os.environ["SQA_BUILD_DIR"], "bin", name)
        if not os.access(path, os.X_OK):
            path = None
    path = path or _repository_tool(name) or shutil.which(name)
    if not path:
        raise ToolError(f"{name} not found: build the project or set SQA_BUILD_DIR")
    _check_version(path)
    return path


_CHECKED_VERSIONS = {}  # (path, size, mtime) -> the tool's sqa version


def _check_version(path):
    """Raises ToolError unless the tool at `path` is of this package's
    version (what its --version prints: "sqa version X"); asked once per
    binary."""
    from . import __version__
    info = os.stat(path)
    key = (os.path.realpath(path), info.st_size, info.st_mtime_ns)
    if key not in _CHECKED_VERSIONS:
        try:
            proc = subprocess.run([path, "--version"], capture_output=True, text=True,
                                  timeout=60)
            output = proc.stdout + proc.stderr
        except (OSError, subprocess.TimeoutExpired) as err:
            output = str(err)
        found = re.search(r"^sqa version (\S+)$", output, re.MULTILINE)
        _CHECKED_VERSIONS[key] = found.group(1) if found else None
    version = _CHECKED_VERSIONS[key]
    if version != __version__:
        raise ToolError(f"{path} is {'sqa ' + version if version else 'not an sqa tool'} "
                        f"(its --version), but this Python package is sqa {__version__}: "
                        f"use the tools of the same build (SQA_BUILD_DIR)")


def _run(cmd, timeout=None):
    """Runs `cmd`; ToolError with its diagnostic when it fails, or when it
    runs past `timeout` seconds (then it is killed)."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolError(f"{os.path.basename(cmd[0])} ran past its limit of {timeout} s: "
                        f"{' '.join(cmd)}") from None
    except OSError as err:
        raise ToolError(f"cannot run {cmd[0]}: {err.strerror}") from None
    if proc.returncode != 0:
        raise ToolError(proc.stderr.strip() or f"{cmd[0]} failed")
    return proc


def compile_to_ptx(cfg: AttentionConfig, chip="sm_80", features="+ptx80", opt_level=3):
    """PTX of the GPU kernel(s) for `cfg`, as {kernel name: PTX text}."""
    with tempfile.TemporaryDirectory() as tmp:
        module = os.path.join(tmp, "attention.mlir")
        with open(module, "w") as f:
            f.write(emit_attention_module(cfg))
        out = os.path.join(tmp, "attention.ptx")
        _run([find_tool("sqa-compile"), module, "--chip", chip, "--features", features,
              "--opt-level", str(opt_level), "--emit", "ptx", "-o", out])
        kernels = {}
        for name in sorted(os.listdir(tmp)):
            if name.endswith(".ptx"):
                text = open(os.path.join(tmp, name)).read()
                for entry in re.findall(r"\.entry\s+(\w+)", text):
                    kernels[entry] = text
        return kernels


_NPY_DTYPES = {"f32": np.float32, "f16": np.float16, "bf16": np.uint16}


def run_on_cpu(cfg: AttentionConfig, q, k, v, lowering="tiled", blocks=None,
               out_init=None, lse_init=None):
    """Runs `cfg` on the CPU through sqa-run and returns (out, lse or None).

    q, k, v are arrays of the element type (bf16 as uint16 words); out_init
    and lse_init default to zeros. `blocks` is (q-block, kv-block) for the
    tiled lowering, and (rows per block, kv-block[, rows per warp]) for the
    tensor-core one.
    """
    batch, _, sq, _ = q.shape
    out_shape = (batch, cfg.num_output_heads, sq, cfg.dv)
    if out_init is None:
        out_init = np.zeros(out_shape, _NPY_DTYPES[cfg.output_dtype])
    arrays = [q, k, v, out_init]
    if cfg.with_lse:
        arrays.append(np.zeros(out_shape[:3], np.float32) if lse_init is None else lse_init)
    with tempfile.TemporaryDirectory() as tmp:
        module = os.path.join(tmp, "attention.mlir")
        with open(module, "w") as f:
            f.write(emit_attention_module(cfg))
        cmd = [find_tool("sqa-run"), module, "-e", "attention", f"--lowering={lowering}"]
        if blocks:
            cmd += [f"--q-block={blocks[0]}", f"--kv-block={blocks[1]}"]
            if len(blocks) > 2:
                cmd.append(f"--warp-rows={blocks[2]}")
        if "bf16" in (cfg.dtype, cfg.output_dtype):
            cmd.append("--raw-bf16")
        for i, array in enumerate(arrays):
            path = os.path.join(tmp, f"in{i}.npy")
            np.save(path, array)
            cmd += ["-i", path]
        results = [os.path.join(tmp, f"out{i}.npy") for i in range(len(arrays) - 3)]
        for path in results:
            cmd += ["-o", path]
        _run(cmd)
        loaded = [np.load(path) for path in results]
    return loaded[0], (loaded[1] if cfg.with_lse else None)


def run_grad_on_cpu(cfg: AttentionConfig, q, k, v, out, dout, lse, grad_dtype=None,
                    lowering="reference", blocks=None):
    """Runs sqa.attention_grad for `cfg` on the CPU through sqa-run and
    returns (dq, dk, dv). Arrays are of the element types (bf16 as uint16
    words): q, k, v of cfg.dtype, out and dout of its output type, lse f32;
    the gradients come back as `grad_dtype` (default cfg.dtype). `blocks`
    is (q-block, kv-block) for the tiled lowering."""
    grad_dtype = grad_dtype or cfg.dtype
    zeros = lambda like: np.zeros(like.shape, _NPY_DTYPES[grad_dtype])
    arrays = [q, k, v, out, dout, np.asarray(lse, np.float32), zeros(q), zeros(k), zeros(v)]
    with tempfile.TemporaryDirectory() as tmp:
        module = os.path.join(tmp, "attention_grad.mlir")
        with open(module, "w") as f:
            f.write(emit_attention_grad_module(cfg, grad_dtype))
        cmd = [find_tool("sqa-run"), module, "-e", "attention_grad", f"--lowering={lowering}"]
        if blocks:
            cmd += [f"--q-block={blocks[0]}", f"--kv-block={blocks[1]}"]
        if "bf16" in (cfg.dtype, cfg.output_dtype, grad_dtype):
            cmd.append("--raw-bf16")
        for i, array in enumerate(arrays):
            path = os.path.join(tmp, f"in{i}.npy")
            np.save(path, array)
            cmd += ["-i", path]
        results = [os.path.join(tmp, f"grad{i}.npy") for i in range(3)]
        for path in results:
            cmd += ["-o", path]
        _run(cmd)
        return tuple(np.load(path) for path in results)
