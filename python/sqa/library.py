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
import os
import shlex
import shutil
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


def config_key(cfg: AttentionConfig) -> str:
    """The canonical text of `cfg`, the fields of `sqa-compile --config`
    (every field spelled out, in a fixed order): kernel bundles are keyed by
    it, and `parse_config_key` reads it back."""
    fields = [f"hq={cfg.num_query_heads}", f"hkv={cfg.num_kv_heads}",
              f"d={cfg.head_dim}", f"dv={cfg.dv}", f"dtype={cfg.dtype}",
              f"out={cfg.output_dtype}", f"mask={cfg.mask}"]
    if cfg.window is not None:
        fields.append(f"window={cfg.window[0]}:{cfg.window[1]}")
    if cfg.scale is not None:
        fields.append(f"scale={float(cfg.scale)!r}")
    if cfg.with_lse:
        fields.append("lse")
    if cfg.grad_dtype is not None:
        fields.append(f"grad={cfg.grad_dtype}")
    return ",".join(fields)


def parse_config_key(key: str) -> AttentionConfig:
    """The AttentionConfig of `key` (the fields of `sqa-compile --config`,
    in any order, dv/dtype/out/mask optional). Raises ValueError naming the
    bad field; whether the configuration is a valid attention is the
    compiler's to say."""
    fields, flags = {}, set()
    for item in filter(None, (part.strip() for part in key.split(","))):
        name, eq, value = item.partition("=")
        if name in fields or name in flags:
            raise ValueError(f"configuration {key!r}: field {name!r} given twice")
        if not eq:
            if name not in ("lse", "grad"):
                raise ValueError(f"configuration {key!r}: {item!r} is not NAME=VALUE")
            flags.add(name)
        else:
            fields[name] = value.strip()
    known = {"hq", "hkv", "d", "dv", "dtype", "out", "mask", "window", "scale", "grad"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"configuration {key!r}: unknown field {unknown[0]!r} "
                         f"(expected {', '.join(sorted(known))}, lse)")

    def integer(name):
        try:
            return int(fields[name])
        except ValueError:
            raise ValueError(f"configuration {key!r}: {name!r} expects an integer, "
                             f"not {fields[name]!r}") from None

    for name in ("hq", "hkv", "d"):
        if name not in fields:
            raise ValueError(f"configuration {key!r} needs {name!r}")
    window = None
    if "window" in fields:
        left, _, right = fields["window"].partition(":")
        try:
            window = (int(left), int(right))
        except ValueError:
            raise ValueError(f"configuration {key!r}: 'window' expects L:R, "
                             f"not {fields['window']!r}") from None
    scale = None
    if "scale" in fields:
        try:
            scale = float(fields["scale"])
        except ValueError:
            raise ValueError(f"configuration {key!r}: 'scale' expects a number, "
                             f"not {fields['scale']!r}") from None
    return AttentionConfig(
        num_query_heads=integer("hq"), num_kv_heads=integer("hkv"), head_dim=integer("d"),
        value_head_dim=integer("dv") if "dv" in fields else None,
        dtype=fields.get("dtype", "f16"), out_dtype=fields.get("out"),
        mask=fields.get("mask", "none"), window=window, scale=scale,
        with_lse="lse" in flags,
        grad_dtype=fields.get("grad", fields.get("dtype", "f16") if "grad" in flags else None))


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
    (every field of its configuration key)."""
    try:
        return (info["query_heads"], info["kv_heads"], info["head_dim"],
                info["value_head_dim"], info["dtype"], info["out_dtype"], info["mask"],
                tuple(info.get("window") or ()) or None, info["lse"],
                info.get("grad_dtype") if info.get("backward") else None) == (
            cfg.num_query_heads, cfg.num_kv_heads, cfg.head_dim, cfg.dv, cfg.dtype,
            cfg.output_dtype, cfg.mask, cfg.window, cfg.with_lse, cfg.grad_dtype) and (
            cfg.scale is None or abs(info["scale"] - cfg.scale) <= 1e-6 * abs(cfg.scale))
    except (KeyError, TypeError):
        return False


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
    IntegrityError unless each kernel is that configuration; raises
    UntrustedPathError where another user could have written the library.
    """

    def __init__(self, directory, expected=None):
        self.directory = directory
        name = os.path.basename(os.path.normpath(directory))
        shared_object = os.path.join(directory, f"lib{name}.so")
        if os.path.exists(shared_object):
            require_trusted(shared_object, "kernel library")
        verify_record(directory, required=library_files(name))
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
