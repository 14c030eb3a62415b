"""sqa.trust: trusted paths, private directories, locks and RECORDs; and
the tool lookup that must not run what another user planted."""

import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from sqa.trust import (IntegrityError, UntrustedPathError, locked, private_directory,
                       untrusted_reason, verify_record, write_record)

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sqa")
NOBODY = 65534


def _give_away(path):
    """Makes `path` another user's (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("making a file another user's needs root")
    os.chown(path, NOBODY, NOBODY)


def test_trusted_paths(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    (mine / "lib.so").write_bytes(b"x")
    assert untrusted_reason(str(mine / "lib.so")) is None
    # pytest's directories are in /tmp: sticky, so entries there are safe
    # when they are the caller's.
    assert os.stat("/tmp").st_mode & 0o1000 and untrusted_reason(str(tmp_path)) is None
    # A directory on the path anyone (or the group) can write.
    os.chmod(mine, 0o777)
    assert "writable by others (mode 777)" in untrusted_reason(str(mine / "lib.so"))
    os.chmod(mine, 0o775)
    assert "writable by its group" in untrusted_reason(str(mine / "lib.so"))
    os.chmod(mine, 0o755)
    # A sticky world-writable directory is no protection for the entry
    # itself, nor for an entry another user owns.
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    assert "writable by others" in untrusted_reason(str(sticky))
    (sticky / "f").write_bytes(b"x")
    assert untrusted_reason(str(sticky / "f")) is None
    _give_away(str(mine / "lib.so"))
    assert f"owned by uid {NOBODY}" in untrusted_reason(str(mine / "lib.so"))
    _give_away(str(sticky / "f"))
    assert f"owned by uid {NOBODY}" in untrusted_reason(str(sticky / "f"))
    # A symbolic link is judged by where it leads.
    os.symlink(str(mine / "lib.so"), str(tmp_path / "link"))
    assert f"owned by uid {NOBODY}" in untrusted_reason(str(tmp_path / "link"))


def test_private_directory(tmp_path):
    made = private_directory(str(tmp_path / "a" / "cache"))
    assert os.stat(made).st_mode & 0o777 == 0o700
    readable = tmp_path / "readable"
    readable.mkdir(mode=0o755)
    private_directory(str(readable))
    assert os.stat(readable).st_mode & 0o777 == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(UntrustedPathError, match="writable by others"):
        private_directory(str(shared))
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    _give_away(str(theirs))
    with pytest.raises(UntrustedPathError, match=f"owned by uid {NOBODY}"):
        private_directory(str(theirs))


def test_records(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "libx.so").write_bytes(b"\x7fELF" + bytes(4096))
    (lib / "x.json").write_text("{}")
    write_record(str(lib), {"key": "k"})
    assert sorted(verify_record(str(lib), {"key": "k"}, ["libx.so"])["files"]) == \
        ["libx.so", "x.json"]
    with pytest.raises(IntegrityError, match="built for"):
        verify_record(str(lib), {"key": "other"})
    with pytest.raises(IntegrityError, match="does not list y.json"):
        verify_record(str(lib), required=["y.json"])
    # Truncated: found by its size, before anything maps it.
    os.truncate(lib / "libx.so", 100)
    with pytest.raises(IntegrityError, match="100 bytes, its RECORD.json says 4100"):
        verify_record(str(lib))
    # Same size, other bytes.
    (lib / "libx.so").write_bytes(b"\x7fELF" + bytes(4095) + b"\x01")
    with pytest.raises(IntegrityError, match="SHA-256 differs"):
        verify_record(str(lib))
    os.remove(lib / "x.json")
    with pytest.raises(IntegrityError, match="x.json"):
        verify_record(str(lib))
    (lib / "RECORD.json").write_text("{not json")
    with pytest.raises(IntegrityError, match="malformed"):
        verify_record(str(lib))
    os.remove(lib / "RECORD.json")
    with pytest.raises(IntegrityError, match="no readable RECORD.json"):
        verify_record(str(lib))


def test_lock_excludes_threads(tmp_path):
    inside, overlaps = [0], []

    def work():
        with locked(str(tmp_path / "k.lock")):
            inside[0] += 1
            overlaps.append(inside[0])
            time.sleep(0.02)
            inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [1, 1, 1, 1]
    assert os.stat(tmp_path / "k.lock").st_mode & 0o777 == 0o600


def test_installed_package_ignores_a_planted_build_dir(tmp_path):
    """After `pip install --target DIR`, DIR/../build/bin is anyone's
    (/tmp/build/bin for DIR=/tmp/x): the package must not run a tool
    planted there."""
    target = tmp_path / "x"
    shutil.copytree(PACKAGE, target / "sqa",
                    ignore=shutil.ignore_patterns("__pycache__", "kernels"))
    planted = tmp_path / "build" / "bin"
    planted.mkdir(parents=True)
    tool = planted / "sqa-compile"
    tool.write_text("#!/bin/sh\ntouch \"$0.ran\"\n")
    tool.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(target)}
    code = ("from sqa.tools import find_tool, ToolError\n"
            "try:\n    print('found', find_tool('sqa-compile'))\n"
            "except ToolError as err:\n    print('refused', err)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, cwd=str(tmp_path)).stdout
    assert out.startswith("refused sqa-compile not found"), out
    assert not (planted / "sqa-compile.ran").exists()


def test_tools_of_another_version_are_refused(tmp_path, monkeypatch):
    """The package runs only tools of its own version: a stale build or
    another release on PATH is refused with both versions named."""
    import sqa
    from sqa.tools import ToolError, find_tool
    real = find_tool("sqa-opt")
    out = subprocess.run([real, "--version"], capture_output=True, text=True).stdout
    assert f"sqa version {sqa.__version__}" in out.splitlines()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, version_line in [("sqa-opt", "sqa version 0.0.1"), ("sqa-run", "LLVM version 22")]:
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\necho '{version_line}'\n")
        tool.chmod(0o755)
    monkeypatch.setenv("SQA_BUILD_DIR", str(tmp_path))
    with pytest.raises(ToolError, match=rf"is sqa 0.0.1 \(its --version\), but this Python "
                                        rf"package is sqa {sqa.__version__}"):
        find_tool("sqa-opt")
    with pytest.raises(ToolError, match="is not an sqa tool"):
        find_tool("sqa-run")
