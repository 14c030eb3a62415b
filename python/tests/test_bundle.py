"""Kernel bundles: precompiled kernels found by configuration, with neither
the compiler nor the CUDA toolkit where they run.

A small bundle is built with the compiler; then a fresh Python process with
a copy of the package outside the repository (so the repository's
build/bin is not found), PATH=/usr/bin:/bin (no sqa tools, no ptxas) and no
CUDA variables finds its kernels through SQA_KERNEL_PATH and launches one:
with no CUDA driver the launch returns the no-driver status, with the
toolkit's stub as libcuda.so.1 the stub's CUDA_ERROR_STUB_LIBRARY; a
configuration no bundle holds raises KernelNotFoundError naming it and the
command that builds it.
"""

import json
import os
import shutil
import subprocess
import sys
import threading

import pytest

import sqa.bundle as sqa_bundle
from sqa import variant
from sqa.bundle import (MANIFEST, Bundle, BundleError, KernelNotFoundError, build_bundle,
                        check_bundles, find_kernel, library_name, main)
from sqa.library import config_key, parse_config_key

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sqa")
CUDA_STUB = "/usr/local/cuda/lib64/stubs/libcuda.so"
XSQA = variant("xSQA", head_dim=16, dtype="bf16", mask="causal_top_left")
RSQA = variant("rSQA", head_dim=64, dtype="f16", window=(32, 0), with_lse=True)
MISSING = variant("MHA", head_dim=32, dtype="f16")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("bundle"))
    build_bundle(directory, [XSQA, config_key(RSQA)])
    return directory


def test_config_keys_round_trip():
    for cfg in (XSQA, RSQA, variant("GQA", head_dim=128, dtype="bf16", out_dtype="f32",
                                    scale=0.5, value_head_dim=64)):
        parsed = parse_config_key(config_key(cfg))
        assert config_key(parsed) == config_key(cfg)
        assert (parsed.dv, parsed.output_dtype, parsed.window, parsed.scale, parsed.with_lse) == \
            (cfg.dv, cfg.output_dtype, cfg.window, cfg.scale, cfg.with_lse)
    # Defaults as in sqa-compile --config: f16, no mask, dv = d.
    assert config_key(parse_config_key("hq=8,hkv=4,d=64")) == \
        "hq=8,hkv=4,d=64,dv=64,dtype=f16,out=f16,mask=none"
    # The compiler reads the grammar (sqa-compile --emit config), with the
    # op verifier's rules; its messages name the configuration.
    for bad, message in [("hq=8,hkv=4", "'hq=8,hkv=4' needs a positive 'd'"),
                         ("hq=8,hkv=4,d=x", "'d' expects an integer"),
                         ("hq=8,hkv=4,d=8,foo=1", "unknown configuration field 'foo=1'"),
                         ("hq=8,hq=4,d=8", "gives 'hq' twice"),
                         ("hq=8,hkv=4,d=8,window=3", "'window' expects L:R"),
                         ("hq=8,hkv=4,d=8,causal", "unknown configuration field 'causal'"),
                         ("hq=8,hkv=3,d=8", "one of the query head count .8. and the key/value "
                                            "head count .3. to divide the other")]:
        with pytest.raises(ValueError, match=message):
            parse_config_key(bad)


def test_bundle_layout(bundle):
    manifest = Bundle(bundle).manifest
    assert manifest["format"] == "sqa-kernel-bundle" and manifest["chip"] == "sm_80"
    if shutil.which("ptxas") or os.path.exists("/usr/local/cuda/bin/ptxas"):
        assert "sm_80" in manifest["cubin_chips"]
    assert sorted(manifest["kernels"]) == sorted([config_key(XSQA), config_key(RSQA)])
    name = manifest["kernels"][config_key(RSQA)]
    assert name == library_name(config_key(RSQA))
    # The launcher as a shared object (images embedded), its header and
    # manifest: no C source, PTX or cubin files.
    assert sorted(os.listdir(os.path.join(bundle, name))) == sorted(
        [f"lib{name}.so", f"{name}.h", f"{name}.json", "RECORD.json"])
    # A second build adds only what is missing.
    before = os.stat(os.path.join(bundle, name, f"lib{name}.so")).st_mtime_ns
    build_bundle(bundle, [RSQA])
    assert os.stat(os.path.join(bundle, name, f"lib{name}.so")).st_mtime_ns == before


_CHILD = r"""
import os, sys
from sqa import variant
from sqa.bundle import KernelNotFoundError, find_kernel
from sqa.library import LaunchError, Tensor
from sqa.tools import ToolError, find_tool
from sqa.variants import AttentionConfig

try:
    find_tool("sqa-compile")
    sys.exit("the sqa tools are reachable")
except ToolError:
    pass
# The configurations come as their reprs: reading configuration keys takes
# the compiler, which this process must not reach.
library, kernel = find_kernel(eval(sys.argv[1]), "sm_80")
print("found", os.path.dirname(library.directory) == os.environ["SQA_KERNEL_PATH"], kernel)
shape = (1, 4, 128, 16)
t = Tensor.make(0x10000, shape, (4 * 128 * 16, 128 * 16, 16, 1))
try:
    library.launch(kernel, [t, t, t, t])
except LaunchError as err:
    print("status", err.status, err.cuda_result, err.driver_error)
try:
    find_kernel(eval(sys.argv[2]), "sm_80")
except KernelNotFoundError as err:
    print("missing", err)
"""


def _run_child(bundle, tmp_path, ld_library_path=None):
    site = tmp_path / "site"
    if not site.exists():
        shutil.copytree(PACKAGE, site / "sqa", ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(site),
           "SQA_KERNEL_PATH": bundle, "SQA_CACHE_DIR": str(tmp_path / "cache")}
    if ld_library_path:
        env["LD_LIBRARY_PATH"] = ld_library_path
    proc = subprocess.run([sys.executable, "-c", _CHILD, repr(XSQA), repr(MISSING)],
                          env=env, capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _has_driver():
    """Whether a fresh process finds libcuda.so.1 (this one may have loaded
    the toolkit's stub under that name: test_library.py does)."""
    return subprocess.run([sys.executable, "-c", "import ctypes; ctypes.CDLL('libcuda.so.1')"],
                          capture_output=True).returncode == 0


def test_bundle_without_compiler_or_driver(bundle, tmp_path):
    if _has_driver():
        pytest.skip("a CUDA driver is installed: launches reach it")
    out = _run_child(bundle, tmp_path)
    assert "found True attention" in out
    assert "status 8 None cannot load the CUDA driver: libcuda.so.1" in out
    assert (f"missing no kernel for the configuration '{config_key(MISSING)}': no bundle has it "
            f"({bundle}: 2 kernels, not this one)") in out
    assert "cannot be compiled here (sqa-compile not found" in out
    assert f"python3 -m sqa.bundle build DIR --config '{config_key(MISSING)}'" in out


def test_bundle_with_stub_driver(bundle, tmp_path):
    if _has_driver() or not os.path.exists(CUDA_STUB):
        pytest.skip("needs the CUDA toolkit's stub driver and no real driver")
    stub = tmp_path / "stub"
    stub.mkdir()
    os.symlink(CUDA_STUB, stub / "libcuda.so.1")
    out = _run_child(bundle, tmp_path, str(stub))
    assert "found True attention" in out
    assert "status 7 34 None" in out  # CUDA_ERROR_STUB_LIBRARY


def test_lookup_order(bundle, tmp_path, monkeypatch):
    # The bundle first; what no bundle holds is compiled where the tools are.
    monkeypatch.setenv("SQA_KERNEL_PATH", os.pathsep.join([str(tmp_path / "none"), bundle]))
    monkeypatch.setenv("SQA_CACHE_DIR", str(tmp_path / "cache"))
    library, _ = find_kernel(XSQA)
    assert os.path.dirname(library.directory) == bundle
    assert find_kernel(XSQA)[0] is library  # memory
    compiled, kernel = find_kernel(MISSING)
    assert str(tmp_path / "cache") in compiled.directory and kernel in compiled.kernels


def test_check(bundle, tmp_path, capsys):
    keys = [config_key(XSQA), config_key(RSQA)]
    assert check_bundles([bundle], keys) == 0
    assert main(["check", bundle, "--config", config_key(MISSING)]) == 1
    out = capsys.readouterr().out
    assert f"missing: {config_key(MISSING)}" in out and "0 of 1 required kernels" in out
    # A library whose shared object is gone is reported, by key.
    broken = str(tmp_path / "broken")
    shutil.copytree(bundle, broken)
    name = Bundle(broken).kernels[config_key(RSQA)]
    os.remove(os.path.join(broken, name, f"lib{name}.so"))
    assert check_bundles([broken], keys, log=lambda line: None) == 1
    # A library that is not the configuration its key names.
    swapped = str(tmp_path / "swapped")
    shutil.copytree(bundle, swapped)
    manifest = json.load(open(os.path.join(swapped, MANIFEST)))
    manifest["kernels"][config_key(XSQA)], manifest["kernels"][config_key(RSQA)] = \
        manifest["kernels"][config_key(RSQA)], manifest["kernels"][config_key(XSQA)]
    json.dump(manifest, open(os.path.join(swapped, MANIFEST), "w"))
    lines = []
    assert check_bundles([swapped], keys, log=lines.append) == 2
    # Its RECORD names the key it was built for (the check needs no
    # compiler to read keys).
    assert any(f"built for {{'key': '{config_key(RSQA)}'}}" in line for line in lines)


def test_bad_bundles(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / MANIFEST).write_text("{not json")
    with pytest.raises(BundleError, match="malformed manifest"):
        Bundle(str(bad))
    monkeypatch.setenv("SQA_KERNEL_PATH", str(bad))
    with pytest.raises(BundleError, match="malformed manifest"):
        find_kernel(variant("GQA", head_dim=32, dtype="bf16"))
    (bad / MANIFEST).write_text(json.dumps({"format": "sqa-kernel-bundle", "version": 99,
                                            "kernels": {}}))
    with pytest.raises(BundleError, match="bundle version 99"):
        Bundle(str(bad))
    with pytest.raises(BundleError, match="not a kernel bundle"):
        Bundle(str(tmp_path))
    assert main(["build", str(tmp_path / "b"), "--config", "hq=4,hkv=4,d=16,foo=2"]) == 1
    assert "unknown configuration field 'foo=2'" in capsys.readouterr().err
    assert main(["build", str(tmp_path / "b"), "--config", "hq=3,hkv=2,d=16"]) == 1
    assert "to divide the other" in capsys.readouterr().err


def _copy_with_manifest(bundle, destination, edit):
    shutil.copytree(bundle, destination)
    manifest = json.load(open(os.path.join(destination, MANIFEST)))
    edit(manifest)
    json.dump(manifest, open(os.path.join(destination, MANIFEST), "w"))
    return str(destination)


def test_library_names_are_not_paths(bundle, tmp_path):
    """A manifest's library name is a C identifier: '../x', an absolute
    path or 'a/b' would load a library from anywhere."""
    for name in ["../x", "/usr/lib/x", "a/b", "..", ""]:
        def edit(manifest, name=name):
            manifest["kernels"][config_key(XSQA)] = name
        bad = _copy_with_manifest(bundle, tmp_path / f"b{len(os.listdir(tmp_path))}", edit)
        with pytest.raises(BundleError, match="not a library name"):
            Bundle(bad)
        lines = []
        assert check_bundles([bad], [config_key(XSQA)], log=lines.append) == 2
        assert any("not a library name" in line for line in lines)


def test_old_bundles_are_refused(bundle, tmp_path):
    def edit(manifest):
        manifest["version"] = 1
    old = _copy_with_manifest(bundle, tmp_path / "old", edit)
    with pytest.raises(BundleError, match="bundle version 1; this sqa reads version 2"):
        Bundle(old)


def test_damaged_or_swapped_libraries_are_never_loaded(bundle, tmp_path, monkeypatch):
    """A truncated shared object (SIGBUS when mapped) or an empty one, and
    a manifest whose entries are swapped (non-causal attention for a
    causal request), are reported by check and refused by find_kernel."""
    monkeypatch.setattr(sqa_bundle, "_LOADED", {})
    keys = [config_key(XSQA), config_key(RSQA)]
    for size in (4096, 0):
        damaged = str(tmp_path / f"damaged{size}")
        shutil.copytree(bundle, damaged)
        name = Bundle(damaged).kernels[config_key(RSQA)]
        os.truncate(os.path.join(damaged, name, f"lib{name}.so"), size)
        lines = []
        assert check_bundles([damaged], keys, log=lines.append) == 1
        assert any(line.startswith(f"broken: {config_key(RSQA)}") and
                   f"{size} bytes, its RECORD.json says" in line for line in lines)
        monkeypatch.setenv("SQA_KERNEL_PATH", damaged)
        with pytest.raises(BundleError, match="cannot be loaded.*--rebuild"):
            find_kernel(RSQA)

    def swap(manifest):
        kernels = manifest["kernels"]
        kernels[keys[0]], kernels[keys[1]] = kernels[keys[1]], kernels[keys[0]]
    swapped = _copy_with_manifest(bundle, tmp_path / "swapped", swap)
    monkeypatch.setenv("SQA_KERNEL_PATH", swapped)
    with pytest.raises(BundleError, match="is not the configuration"):
        find_kernel(XSQA)
    if os.geteuid() == 0:
        theirs = str(tmp_path / "theirs")
        shutil.copytree(bundle, theirs)
        name = Bundle(theirs).kernels[config_key(XSQA)]
        os.chown(os.path.join(theirs, name), 65534, 65534)
        os.chmod(os.path.join(theirs, name), 0o777)
        monkeypatch.setenv("SQA_KERNEL_PATH", theirs)
        with pytest.raises(BundleError, match="owned by uid 65534"):
            find_kernel(XSQA)


def test_concurrent_builds_keep_every_entry(tmp_path):
    """Two builds into one directory at once: the manifest is extended
    under a lock, so neither loses the other's kernels."""
    directory = str(tmp_path / "bundle")
    configs = [variant("MQA", head_dim=16), variant("xSMQA", head_dim=16)]
    errors = []

    def build(cfg):
        try:
            build_bundle(directory, [cfg], cubin_chips=())
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=build, args=(cfg,)) for cfg in configs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(Bundle(directory).kernels) == sorted(config_key(c) for c in configs)
    assert check_bundles([directory], [config_key(c) for c in configs],
                         log=lambda line: None) == 0
    assert not [e for e in os.listdir(directory) if e.startswith(".staging")]
