"""Kernel bundles: precompiled kernels that need neither the compiler nor
the CUDA toolkit where they run.

A bundle is a directory holding `manifest.json` and one built kernel library
per attention configuration: its launcher as a shared object (the PTX and a
cubin per chip embedded; it loads libcuda.so.1 itself), its C header and its
manifest. The bundle's manifest maps each configuration's key
(`sqa.library.config_key`: `hq=8,hkv=4,d=64,dv=64,dtype=bf16,...`) to its
library's directory, a plain name inside the bundle; each library carries a
RECORD of its files' sizes and SHA-256. Before a library is loaded, its
name, its RECORD, the configuration its own manifest describes and the
trust of its path (`sqa.trust`) are checked; a bundle is built under a
lock, so two builds into one directory keep every entry.

`find_kernel(cfg, chip)` is how the front end gets a kernel: from memory,
then from the bundles on $SQA_KERNEL_PATH (directories separated by ':')
and the one installed with the package (sqa/kernels, if any), then by
compiling it where the sqa tools exist; otherwise KernelNotFoundError names
the configuration and the command that builds it.

Command line (the one command that writes a bundle, and its check):

    python3 -m sqa.bundle build DIR --config KEY ... [--configs-from FILE]
    python3 -m sqa.bundle check [DIR ...] [--config KEY ...] [--configs-from FILE]
    python3 -m sqa.bundle list DIR
"""

import argparse
import concurrent.futures
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from .library import (BUILD_TIMEOUT, KernelLibrary, build_library, compile_launcher,
                      config_key, describe_configs, parse_config_key)
from .tools import ToolError, _run, find_tool
from .trust import IntegrityError, UntrustedPathError, locked, write_record
from .variants import AttentionConfig

FORMAT = "sqa-kernel-bundle"
# 2: each library has a RECORD (version 1 had none and is rebuilt).
VERSION = 2
LOCK = ".lock"
# A library's name is a C identifier (its functions are prefixed with it),
# so never a path: no '/', no '..'.
_LIBRARY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MANIFEST = "manifest.json"
# The kernel's name inside each library of a bundle.
KERNEL = "attention"
# Chips that get a cubin where ptxas can assemble for them; every other chip
# at least as new as the PTX's target JIT-compiles the PTX.
DEFAULT_CUBIN_CHIPS = ("sm_80", "sm_90")
PACKAGE_BUNDLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels")
BUILD_COMMAND = "python3 -m sqa.bundle build DIR --config '{key}'"


class BundleError(RuntimeError):
    """A bundle directory or manifest is unusable."""


class KernelNotFoundError(RuntimeError):
    """No bundle has the configuration and it cannot be compiled here."""

    def __init__(self, key, message):
        super().__init__(message)
        self.key = key


def library_name(key):
    """The C name of the library of configuration `key` in a bundle."""
    cfg = parse_config_key(key)
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return (f"sqa_hq{cfg.num_query_heads}_hkv{cfg.num_kv_heads}_d{cfg.head_dim}_"
            f"{cfg.dtype}_{digest}")


class Bundle:
    """A bundle directory, read through its manifest."""

    def __init__(self, directory):
        self.directory = directory
        path = os.path.join(directory, MANIFEST)
        try:
            with open(path) as f:
                manifest = json.load(f)
        except OSError as err:
            raise BundleError(f"{directory}: not a kernel bundle ({err.strerror}: {path})") from None
        except ValueError as err:
            raise BundleError(f"{path}: malformed manifest ({err})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BundleError(f"{path}: not a kernel bundle manifest (format != {FORMAT!r})")
        if manifest.get("version") != VERSION:
            raise BundleError(f"{path}: bundle version {manifest.get('version')!r}; "
                              f"this sqa reads version {VERSION}")
        if not isinstance(manifest.get("kernels"), dict):
            raise BundleError(f"{path}: manifest has no 'kernels' object")
        for key, name in manifest["kernels"].items():
            if not isinstance(name, str) or not _LIBRARY_NAME.match(name):
                raise BundleError(f"{path}: the library of {key!r} is {name!r}, not a "
                                  f"library name (a C identifier, never a path)")
        self.manifest = manifest
        self.kernels = manifest["kernels"]

    def library_dir(self, key):
        """The library directory of configuration `key`, or None."""
        name = self.kernels.get(key)
        return None if name is None else os.path.join(self.directory, name)

    def __len__(self):
        return len(self.kernels)


_BUNDLES = {}   # directory -> (manifest mtime, Bundle)
_LOADED = {}    # (config key, chip) -> KernelLibrary


def search_path():
    """The bundle directories searched, in order: $SQA_KERNEL_PATH, then
    the package's own bundle where it has one."""
    paths = [p for p in os.environ.get("SQA_KERNEL_PATH", "").split(os.pathsep) if p]
    if os.path.exists(os.path.join(PACKAGE_BUNDLE, MANIFEST)):
        paths.append(PACKAGE_BUNDLE)
    return paths


def _load_bundle(directory):
    """The Bundle of `directory` (re-read when its manifest changes), or
    None where the directory does not exist."""
    try:
        mtime = os.stat(os.path.join(directory, MANIFEST)).st_mtime_ns
    except OSError:
        if not os.path.isdir(directory):
            return None
        mtime = None
    cached = _BUNDLES.get(directory)
    if cached and cached[0] == mtime:
        return cached[1]
    bundle = Bundle(directory)
    _BUNDLES[directory] = (mtime, bundle)
    return bundle


def find_in_bundles(key, paths=None):
    """The library directory of `key` in the first bundle on `paths`
    (default: search_path()) that has it, or None."""
    for directory in search_path() if paths is None else paths:
        bundle = _load_bundle(directory)
        if bundle is not None and bundle.library_dir(key):
            return bundle.library_dir(key)
    return None


def find_kernel(cfg: AttentionConfig, chip="sm_80"):
    """(KernelLibrary, kernel name) for `cfg`: from memory, the bundles on
    the search path, or the compiler (for `chip`), in that order."""
    key = config_key(cfg)
    loaded = _LOADED.get((key, chip))
    if loaded is None:
        directory = find_in_bundles(key)
        if directory is None:
            directory = _compile(cfg, key, chip)
        try:
            library = KernelLibrary(directory, expected={KERNEL: cfg})
        except (IntegrityError, UntrustedPathError) as err:
            raise BundleError(f"the library of '{key}' cannot be loaded: {err}; rebuild it: "
                              f"{BUILD_COMMAND.format(key=key)} --rebuild") from None
        loaded = _LOADED[(key, chip)] = library
    return loaded, KERNEL


def _compile(cfg, key, chip):
    try:
        find_tool("sqa-compile")
    except ToolError as err:
        searched = []
        for directory in search_path():
            try:
                bundle = _load_bundle(directory)
            except BundleError as bad:
                searched.append(str(bad))
                continue
            searched.append(f"{directory}: " + ("no such directory" if bundle is None
                                                else f"{len(bundle)} kernels, not this one"))
        where = "; ".join(searched) if searched else "SQA_KERNEL_PATH is not set"
        raise KernelNotFoundError(
            key,
            f"no kernel for the configuration '{key}': no bundle has it ({where}), and it "
            f"cannot be compiled here ({err}). Build it on a machine with the sqa tools: "
            f"{BUILD_COMMAND.format(key=key)}, then add DIR to SQA_KERNEL_PATH") from None
    return build_library({KERNEL: cfg}, chip=chip)


#===------------------------------------------------------------------------===#
# Building bundles
#===------------------------------------------------------------------------===#

def _find_ptxas():
    return shutil.which("ptxas") or next(
        (p for p in ("/usr/local/cuda/bin/ptxas",) if os.access(p, os.X_OK)), None)


def supported_cubin_chips(candidates=DEFAULT_CUBIN_CHIPS, ptx_chip="sm_80"):
    """The chips of `candidates` that this machine's ptxas assembles PTX for
    `ptx_chip` into (probed with an empty kernel); () without ptxas."""
    ptxas = _find_ptxas()
    if ptxas is None:
        return ()
    supported = []
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.ptx")
        with open(probe, "w") as f:
            f.write(f".version 7.0\n.target {ptx_chip}\n.address_size 64\n"
                    ".visible .entry probe() { ret; }\n")
        for chip in candidates:
            proc = subprocess.run([ptxas, f"-arch={chip}", probe, "-o", os.path.join(tmp, "p.o")],
                                  capture_output=True)
            if proc.returncode == 0:
                supported.append(chip)
    return tuple(supported)


def _build_one(directory, key, chip, cubin_chips):
    """Builds the library of `key` into `directory` and returns its name."""
    name = library_name(key)
    final = os.path.join(directory, name)
    parent = tempfile.mkdtemp(prefix=f".staging-{name}-", dir=directory)
    staging = os.path.join(parent, name)
    try:
        cmd = [find_tool("sqa-compile"), "--emit", "library", "--library-name", name,
               "--chip", chip, "--config", f"{KERNEL}:{key}", "-o", staging]
        if cubin_chips:
            cmd += ["--cubin-chips", ",".join(cubin_chips)]
        else:
            cmd += ["--ptxas", "none"]
        _run(cmd, timeout=BUILD_TIMEOUT)
        compile_launcher(staging, name)
        # The shared object embeds the PTX and the cubins; the launcher's
        # source (several times their size, as C arrays) and the images
        # stay behind.
        keep = {f"lib{name}.so", f"{name}.h", f"{name}.json"}
        for entry in os.listdir(staging):
            if entry not in keep:
                os.remove(os.path.join(staging, entry))
        write_record(staging, {"key": key})
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
    finally:
        shutil.rmtree(parent, ignore_errors=True)
    return name


def _write_manifest(directory, manifest):
    path = os.path.join(directory, MANIFEST)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def build_bundle(directory, configs, chip="sm_80", cubin_chips=None, jobs=None,
                 rebuild=False, log=None):
    """Adds the kernels of `configs` (AttentionConfigs or keys) to the bundle
    in `directory`, creating it if needed; configurations it already holds
    are kept unless `rebuild`. `cubin_chips` defaults to the chips of
    DEFAULT_CUBIN_CHIPS that ptxas supports. Returns the Bundle."""
    # Keys given as text are read by the compiler, all in one run.
    texts = [cfg for cfg in configs if not isinstance(cfg, AttentionConfig)]
    described = dict(zip(texts, describe_configs(texts)))
    keys = []
    for cfg in configs:
        key = config_key(cfg if isinstance(cfg, AttentionConfig) else described[cfg])
        if key not in keys:
            keys.append(key)
    if cubin_chips is None:
        cubin_chips = supported_cubin_chips(DEFAULT_CUBIN_CHIPS, chip)
    os.makedirs(directory, exist_ok=True)
    # One build of a bundle at a time: the manifest is read, extended and
    # written back under the lock, so concurrent builds lose no entry.
    with locked(os.path.join(directory, LOCK)):
        return _build_bundle_locked(directory, keys, chip, cubin_chips, jobs, rebuild, log)


def _build_bundle_locked(directory, keys, chip, cubin_chips, jobs, rebuild, log):
    if os.path.exists(os.path.join(directory, MANIFEST)):
        manifest = Bundle(directory).manifest
        if manifest.get("chip") != chip:
            raise BundleError(f"{directory}: its PTX targets {manifest.get('chip')}, not {chip}")
    else:
        manifest = {"format": FORMAT, "version": VERSION, "chip": chip, "kernels": {}}
    manifest["cubin_chips"] = sorted(set(manifest.get("cubin_chips", [])) | set(cubin_chips))
    todo = [k for k in keys if rebuild or k not in manifest["kernels"]
            or not os.path.isdir(os.path.join(directory, manifest["kernels"][k]))]
    with concurrent.futures.ThreadPoolExecutor(jobs or os.cpu_count() or 1) as pool:
        futures = {pool.submit(_build_one, directory, k, chip, cubin_chips): k for k in todo}
        try:
            for future in concurrent.futures.as_completed(futures):
                key = futures[future]
                manifest["kernels"][key] = future.result()
                if log:
                    log(f"built {key}")
        finally:
            # What was built stays usable even when another kernel failed.
            manifest["updated"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds")
            _write_manifest(directory, manifest)
    return Bundle(directory)


#===------------------------------------------------------------------------===#
# Checking bundles
#===------------------------------------------------------------------------===#

def check_bundles(paths, keys, require_driver=False, log=print):
    """Checks that the bundles on `paths` hold every configuration of `keys`,
    that each of those launchers loads, exports its entry points and holds
    the kernel its key names, and reports whether the CUDA driver loads with
    every entry point the launchers call (a failure only with
    `require_driver`). Returns the number of problems."""
    problems = 0
    readable = []
    for directory in paths:
        try:
            bundle = _load_bundle(directory)
        except BundleError as err:
            log(f"error: {err}")
            problems += 1
            continue
        if bundle is None:
            log(f"error: {directory}: no such directory")
            problems += 1
        else:
            readable.append(directory)
            log(f"bundle {directory}: {len(bundle)} kernels, PTX for {bundle.manifest.get('chip')}, "
                f"cubins for {', '.join(bundle.manifest.get('cubin_chips', [])) or 'no chip'}")
    driver = None
    present = 0
    for key in keys:
        directory = find_in_bundles(key, readable)
        if directory is None:
            log(f"missing: {key} (build: {BUILD_COMMAND.format(key=key)})")
            problems += 1
            continue
        try:
            # Built for this key (its RECORD says so, and its files match
            # the RECORD): no parser needed where the compiler is absent.
            library = KernelLibrary(directory, identity={"key": key})
        except (OSError, AttributeError, KeyError, ValueError, IntegrityError,
                UntrustedPathError) as err:
            log(f"broken: {key} in {directory}: {err}")
            problems += 1
            continue
        present += 1
        if driver is None:
            driver = library.load_driver() or ""
    log(f"{present} of {len(keys)} required kernels present and loadable")
    if driver is None:
        pass
    elif driver == "":
        log("driver: libcuda.so.1 loaded, every entry point the launchers call resolved")
    else:
        log(f"driver: {driver}")
        if require_driver:
            problems += 1
    return problems


#===------------------------------------------------------------------------===#
# Command line
#===------------------------------------------------------------------------===#

def _read_keys(args):
    keys = list(args.config or [])
    for path in args.configs_from or []:
        stream = sys.stdin if path == "-" else open(path)
        with stream:
            keys += [line.strip() for line in stream
                     if line.strip() and not line.lstrip().startswith("#")]
    return canonical_keys(keys)


def canonical_keys(keys):
    """`keys` in config_key's canonical form, read by the compiler where it
    is present; where it is not (a GPU machine with bundles only), as given:
    they must then be canonical, as scripts/gpu_kernels.py and the bundles'
    manifests write them."""
    try:
        return [config_key(cfg) for cfg in describe_configs(keys)]
    except ToolError:
        return list(keys)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m sqa.bundle", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build kernels into a bundle (needs the sqa tools)")
    build.add_argument("directory")
    check = sub.add_parser("check", help="check bundles hold and load the given kernels")
    check.add_argument("directories", nargs="*",
                       help="bundles to check (default: $SQA_KERNEL_PATH)")
    check.add_argument("--require-driver", action="store_true",
                       help="also fail when the CUDA driver cannot be loaded")
    for command in (build, check):
        command.add_argument("--config", action="append", metavar="KEY",
                             help="a configuration: hq=N,hkv=N,d=N[,dv=N][,dtype=T][,out=T]"
                                  "[,mask=KIND][,window=L:R][,scale=F][,lse] (repeatable)")
        command.add_argument("--configs-from", action="append", metavar="FILE",
                             help="read configurations, one per line, from FILE ('-': stdin)")
    build.add_argument("--chip", default="sm_80", help="the PTX's target (default sm_80)")
    build.add_argument("--cubin-chips", help="comma-separated chips to assemble cubins for "
                       f"(default: those of {','.join(DEFAULT_CUBIN_CHIPS)} ptxas supports)")
    build.add_argument("--jobs", type=int, default=None, help="parallel builds (default: CPUs)")
    build.add_argument("--rebuild", action="store_true", help="rebuild kernels already there")
    lister = sub.add_parser("list", help="list a bundle's configurations")
    lister.add_argument("directory")
    args = parser.parse_args(argv)

    try:
        if args.command == "list":
            for key in sorted(Bundle(args.directory).kernels):
                print(key)
            return 0
        keys = _read_keys(args)
        if args.command == "build":
            if not keys:
                parser.error("build: no configuration (--config or --configs-from)")
            chips = (tuple(c for c in args.cubin_chips.split(",") if c)
                     if args.cubin_chips is not None else None)
            bundle = build_bundle(args.directory, keys, chip=args.chip, cubin_chips=chips,
                                  jobs=args.jobs, rebuild=args.rebuild)
            size = sum(os.path.getsize(os.path.join(root, f))
                       for root, _, files in os.walk(args.directory) for f in files)
            print(f"{args.directory}: {len(bundle)} kernels, {size / 2**20:.1f} MiB, PTX for "
                  f"{bundle.manifest['chip']}, cubins for "
                  f"{', '.join(bundle.manifest['cubin_chips']) or 'no chip (no ptxas)'}")
            return 0
        paths = args.directories or search_path()
        if not paths:
            parser.error("check: no bundle (give directories or set SQA_KERNEL_PATH)")
        return 1 if check_bundles(paths, keys, args.require_driver) else 0
    except (BundleError, ToolError, ValueError, OSError) as err:
        print(f"sqa.bundle: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
