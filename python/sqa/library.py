"""Generated kernel libraries, loaded into Python.

`build_library` runs `sqa-compile --emit library` for one or more
configurations, compiles the generated launcher into a shared object with the
system C compiler (no CUDA toolkit needed: the launcher loads libcuda.so.1
itself) and caches both on disk, keyed by the configurations, the chip and
the compiler binary. The cache follows `sqa.trust`: a private directory, one
build per key at a time (a lock), published by renaming a unique staging
directory, and a RECORD of sizes and SHA-256 checked before every load (a
library that fails it is rebuilt). `KernelLibrary` verifies a library's
files, loads the shared object with ctypes and calls its launch functions on
device pointers; a status other than success raises `LaunchError` with the
launcher's message.
"""

import atexit
import ctypes
import errno
import hashlib
import json
import math
import os
import shlex
import shutil
import struct
import subprocess
import tempfile
import warnings

from .tools import ToolError, find_tool, _run
from .trust import (IntegrityError, UntrustedPathError, locked, private_directory,
                    require_trusted, verify_record, write_record)
from .variants import AttentionConfig

# How long one compilation of a library may take (sqa-compile, then the C
# compiler), in seconds; sqa-compile bounds each ptxas run itself.
BUILD_TIMEOUT = 1800


# The launcher's status codes (<lib>_status in the generated header).
STATUS_SUCCESS = 0
STATUS_ERROR_CUDA = 7
STATUS_ERROR_NO_DRIVER = 8


class LaunchError(RuntimeError):
    """A launch function returned an error status."""

    def __init__(self, status, message, cuda_result=None, driver_error=None):
        detail = f" (CUresult {cuda_result})" if cuda_result else ""
        if driver_error:
            detail += f": {driver_error}"
        super().__init__(f"{message}{detail}")
        self.status = status
        self.cuda_result = cuda_result
        self.driver_error = driver_error


def _f32_text(value: float) -> str:
    """The shortest decimal that reads back as the f32 nearest `value`: the
    kernels' scale is an f32, so scales that round to one f32 are one
    configuration (and the compiler's description, an f32, reads back to
    the same text)."""
    try:
        f32 = struct.unpack("<f", struct.pack("<f", value))[0]
    except (OverflowError, struct.error):
        return repr(value)   # beyond f32: the compiler's verifier says so
    if not math.isfinite(f32):
        return repr(value)
    for digits in range(1, 10):
        text = f"{f32:.{digits}g}"
        if struct.unpack("<f", struct.pack("<f", float(text)))[0] == f32:
            return text
    return repr(f32)


def config_key(cfg: AttentionConfig) -> str:
    """The canonical text of `cfg`, the fields of `sqa-compile --config`
    (every field spelled out, in a fixed order; the scale as the shortest
    text of its f32): kernel bundles are keyed by it. Python writes the
    grammar; only the compiler reads it (`parse_config_key`)."""
    if cfg.diagonal_offset is not None:
        raise ValueError("a configuration with a diagonal offset has no kernel library "
                         "(the library grammar has no offset; the CPU path takes it)")
    fields = [f"hq={cfg.num_query_heads}", f"hkv={cfg.num_kv_heads}",
              f"d={cfg.head_dim}", f"dv={cfg.dv}", f"dtype={cfg.dtype}",
              f"out={cfg.output_dtype}", f"mask={cfg.mask}"]
    if cfg.window is not None:
        fields.append(f"window={cfg.window[0]}:{cfg.window[1]}")
    if cfg.scale is not None:
        fields.append(f"scale={_f32_text(float(cfg.scale))}")
    if cfg.with_lse:
        fields.append("lse")
    if cfg.grad_dtype is not None:
        fields.append(f"grad={cfg.grad_dtype}")
    return ",".join(fields)


def config_from_description(info) -> AttentionConfig:
    """The AttentionConfig that a kernel's description computes: an entry of
    `sqa-compile --emit config`, or a kernel of a library's manifest (the
    same fields, written by the same code). Raises KeyError, TypeError or
    ValueError for a malformed one."""
    window = info.get("window")
    if window is not None:
        window = (int(window[0]), int(window[1]))
    backward = bool(info["backward"])
    return AttentionConfig(
        num_query_heads=int(info["query_heads"]), num_kv_heads=int(info["kv_heads"]),
        head_dim=int(info["head_dim"]), value_head_dim=int(info["value_head_dim"]),
        dtype=str(info["dtype"]), out_dtype=str(info["out_dtype"]), mask=str(info["mask"]),
        window=window,
        scale=None if info.get("default_scale", False) else float(info["scale"]),
        with_lse=bool(info["lse"]) and not backward,
        grad_dtype=str(info["grad_dtype"]) if backward else None)


def describe_configs(keys):
    """The AttentionConfig of each configuration text of `keys` (the fields
    of `sqa-compile --config`: `hq=8,hkv=4,d=64[,...]`), as the compiler
    reads it (`sqa-compile --emit config`): the grammar, its defaults and
    the op verifier's rules live in the compiler alone. Raises ValueError
    with the compiler's message for a bad one, ToolError without the
    compiler."""
    keys = list(keys)
    if not keys:
        return []
    cmd = [find_tool("sqa-compile"), "--emit", "config", "-o", "-"]
    for index, key in enumerate(keys):
        cmd += ["--config", f"c{index}:{key}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ToolError(f"sqa-compile --emit config ran past {BUILD_TIMEOUT} s") from None
    except OSError as err:
        raise ToolError(f"cannot run {cmd[0]}: {err.strerror}") from None
    if proc.returncode != 0:
        # The compiler's message says what is wrong; it names the entries
        # c0, c1, ...: name the configurations instead.
        message = proc.stderr.strip() or f"{cmd[0]} failed"
        for index, key in reversed(list(enumerate(keys))):
            message = message.replace(f"'c{index}'", repr(key)).replace(
                f"--config=c{index}:", "--config=").replace(f"c{index}:{key}", key)
        raise ValueError(message)
    configs = json.loads(proc.stdout)["configs"]
    return [config_from_description(info) for info in configs]


def parse_config_key(key: str) -> AttentionConfig:
    """The AttentionConfig of `key` (the fields of `sqa-compile --config`,
    in any order, dv/dtype/out/mask optional), read by the compiler
    (describe_configs). Raises ValueError with the compiler's message."""
    return describe_configs([key])[0]


def config_spec(name: str, cfg: AttentionConfig) -> str:
    """The `sqa-compile --config` text of `cfg` as kernel `name`."""
    return f"{name}:{config_key(cfg)}"


def default_cache_dir():
    return os.environ.get("SQA_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "sqa", "kernels")


_FALLBACK_CACHE = None


def cache_root(cache_dir=None):
    """The private directory the cache lives in: `cache_dir` when given
    (UntrustedPathError or OSError when it is not usable), else
    $SQA_CACHE_DIR or ~/.cache/sqa/kernels; where that cannot be made or is
    not private (read-only, HOME=/nonexistent, another user's), a fresh
    private directory of this process, removed at exit, with a warning."""
    if cache_dir:
        return private_directory(cache_dir)
    global _FALLBACK_CACHE
    requested = default_cache_dir()
    try:
        root = private_directory(requested)
        if not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "read-only", root)
        return root
    except (OSError, UntrustedPathError) as err:
        if _FALLBACK_CACHE is None:
            _FALLBACK_CACHE = tempfile.mkdtemp(prefix="sqa-kernels-")
            atexit.register(shutil.rmtree, _FALLBACK_CACHE, True)
            warnings.warn(f"sqa: the kernel cache {requested} is not usable ({err}); "
                          f"kernels are compiled into {_FALLBACK_CACHE} for this process "
                          f"only", RuntimeWarning, stacklevel=3)
        return _FALLBACK_CACHE


def _cache_key(specs, chip, compiler):
    stat = os.stat(compiler)
    identity = {"specs": specs, "chip": chip, "compiler": os.path.realpath(compiler),
                "mtime": stat.st_mtime_ns, "size": stat.st_size}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def compile_launcher(directory, name):
    """Compiles the launcher <name>.c of the library in `directory` into
    lib<name>.so with the system C compiler ($CC, cc or gcc). The launcher
    needs no CUDA toolkit: it loads libcuda.so.1 itself."""
    # $CC is a command line, as make reads it ("ccache gcc").
    cc = shlex.split(os.environ.get("CC", "")) or [shutil.which("cc") or shutil.which("gcc")]
    if not cc[0]:
        raise ToolError("no C compiler (cc) to build the kernel launcher")
    _run(cc + ["-shared", "-fPIC", "-O2", "-std=c11", os.path.join(directory, f"{name}.c"),
               "-ldl", "-lpthread", "-o", os.path.join(directory, f"lib{name}.so")],
         timeout=BUILD_TIMEOUT)


def library_files(name):
    """The files of library `name` that a load reads (and its RECORD must
    list)."""
    return (f"lib{name}.so", f"{name}.json")


def build_library(configs, chip="sm_80", cache_dir=None, name="sqa_kernels"):
    """Compiles `configs` ({kernel name: AttentionConfig}) into a library.

    Returns the library's directory, which holds the generated files, the
    shared object lib<name>.so and their RECORD. A library already in the
    cache is reused once its RECORD verifies; one that does not (truncated,
    emptied, changed, or built for something else) is rebuilt. One thread
    or process builds a key at a time; the others wait and reuse it.
    """
    compiler = find_tool("sqa-compile")
    specs = [config_spec(kernel, cfg) for kernel, cfg in sorted(configs.items())]
    root = cache_root(cache_dir)
    key = _cache_key(specs, chip, compiler)
    directory = os.path.join(root, key)
    lib_dir = os.path.join(directory, name)
    identity = {"specs": specs, "chip": chip, "library": name}
    with locked(f"{directory}.lock"):
        try:
            verify_record(lib_dir, identity, library_files(name))
            return lib_dir
        except IntegrityError:
            if os.path.islink(directory):
                os.unlink(directory)
            elif os.path.lexists(directory):
                shutil.rmtree(directory)
        staging = tempfile.mkdtemp(prefix=f"{key}.tmp-", dir=root)
        try:
            staged = os.path.join(staging, name)
            cmd = [compiler, "--emit", "library", "--chip", chip, "-o", staged]
            for spec in specs:
                cmd += ["--config", spec]
            _run(cmd, timeout=BUILD_TIMEOUT)
            compile_launcher(staged, name)
            write_record(staged, identity)
            os.replace(staging, directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return lib_dir


def kernel_matches(info, cfg):
    """Whether the kernel `info` of a library's manifest computes `cfg`
    (every field of its configuration key; a scale `cfg` leaves to the
    default matches any, as that kernel computes it)."""
    try:
        described = config_from_description(info)
        scale = float(info["scale"])
    except (KeyError, TypeError, ValueError):
        return False

    def fields(c):
        return (c.num_query_heads, c.num_kv_heads, c.head_dim, c.dv, c.dtype,
                c.output_dtype, c.mask, c.window, c.with_lse, c.grad_dtype)
    return fields(described) == fields(cfg) and (
        cfg.scale is None or abs(scale - cfg.scale) <= 1e-6 * abs(cfg.scale))


class Tensor(ctypes.Structure):
    """The launcher's <lib>_tensor: data pointer, sizes, strides (elements)."""

    _fields_ = [("data", ctypes.c_void_p), ("shape", ctypes.c_int64 * 4),
                ("strides", ctypes.c_int64 * 4)]

    @classmethod
    def make(cls, data, shape, strides):
        padded = lambda values: (ctypes.c_int64 * 4)(*(list(values) + [0] * (4 - len(values))))
        return cls(ctypes.c_void_p(data), padded(shape), padded(strides))


class KernelLibrary:
    """A built library, loaded with ctypes once its files verify.

    `directory` holds lib<name>.so, <name>.json and their RECORD (as
    build_library and bundles write them; name is the directory's). Raises
    IntegrityError before loading anything when a file differs from its
    RECORD, and when `expected` ({kernel name: AttentionConfig}) is given,
    IntegrityError unless each kernel is that configuration (or, with
    `identity`, unless its RECORD says it was built for that); raises
    UntrustedPathError where another user could have written the library.
    """

    def __init__(self, directory, expected=None, identity=None):
        self.directory = directory
        name = os.path.basename(os.path.normpath(directory))
        shared_object = os.path.join(directory, f"lib{name}.so")
        if os.path.exists(shared_object):
            require_trusted(shared_object, "kernel library")
        verify_record(directory, identity, required=library_files(name))
        with open(os.path.join(directory, f"{name}.json")) as f:
            self.manifest = json.load(f)
        if self.manifest.get("library") != name:
            raise IntegrityError(f"{directory}: its manifest names the library "
                                 f"{self.manifest.get('library')!r}, not {name!r}")
        self.name = name
        self.kernels = {k["name"]: k for k in self.manifest["kernels"]}
        for kernel, cfg in (expected or {}).items():
            if kernel not in self.kernels or not kernel_matches(self.kernels[kernel], cfg):
                raise IntegrityError(f"{directory}: kernel {kernel!r} is not the "
                                     f"configuration {config_key(cfg)}")
        lib = ctypes.CDLL(shared_object)
        self._status_string = getattr(lib, f"{self.name}_status_string")
        self._status_string.restype = ctypes.c_char_p
        self._status_string.argtypes = [ctypes.c_int]
        self._last_cuda_result = getattr(lib, f"{self.name}_last_cuda_result")
        self._last_cuda_result.restype = ctypes.c_int
        self._load_driver = getattr(lib, f"{self.name}_load_driver")
        self._load_driver.restype = ctypes.c_int
        self._driver_error = getattr(lib, f"{self.name}_driver_error")
        self._driver_error.restype = ctypes.c_char_p
        self._functions = {}
        for info in self.kernels.values():
            function = getattr(lib, info["function"])
            function.restype = ctypes.c_int
            function.argtypes = [ctypes.POINTER(Tensor)] * len(self._tensors(info)) + \
                [ctypes.c_void_p]
            self._functions[info["name"]] = function

    def load_driver(self):
        """Loads the CUDA driver as a launch does: None when it is loaded
        with every entry point the launcher calls, else the reason."""
        if self._load_driver() == STATUS_SUCCESS:
            return None
        return self._driver_error().decode()

    @staticmethod
    def _tensors(info):
        """The tensor parameters of a kernel's launch function, in order."""
        if "tensors" in info:
            return info["tensors"]
        return ["q", "k", "v", "out"] + (["lse"] if info["lse"] else [])

    def launch(self, kernel, tensors, stream=0):
        """Launches `kernel` on `tensors` (each a Tensor: q, k, v, out[, lse]
        for a forward, q, k, v, out, dout, lse, dq, dk, dv for a backward) on
        the CUstream handle `stream`."""
        info = self.kernels.get(kernel)
        if info is None:
            raise KeyError(f"no kernel {kernel!r} in library {self.name}")
        expected = len(self._tensors(info))
        if len(tensors) != expected:
            raise ValueError(f"kernel {kernel!r} takes {expected} tensors, got {len(tensors)}")
        function = self._functions[kernel]
        status = function(*[ctypes.byref(t) for t in tensors], ctypes.c_void_p(stream))
        if status != STATUS_SUCCESS:
            message = self._status_string(status).decode()
            cuda_result = self._last_cuda_result() if status == STATUS_ERROR_CUDA else None
            driver_error = (self._driver_error().decode()
                            if status == STATUS_ERROR_NO_DRIVER else None)
            raise LaunchError(status, f"{info['function']}: {message}", cuda_result,
                              driver_error)
