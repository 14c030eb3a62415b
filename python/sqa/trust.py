"""What the package trusts on disk: the one place that decides whether a
directory may hold code the package runs or loads, and whether files are
the ones that were written.

The trust model (docs/trust.md says it for users):

- Code is loaded or run only from a *trusted path*: the file and every
  directory above it are owned by the caller or by root and are not writable
  by group or others, except a sticky directory (/tmp), where only the owner
  of an entry can rename or delete it. This is OpenSSH's rule for its
  configuration files and pip's for its cache ("not owned by the current
  user: cache disabled"): another local user who can write any directory on
  the path can replace what is below it.
- A cache directory is private: created 0700, owned by the caller, never
  group- or world-writable; one that is not is refused (the front end then
  falls back to a fresh private directory of its own).
- What is loaded is verified first: a directory of generated files carries
  a RECORD (as a wheel does: each file's size and SHA-256), checked before a
  shared object is mapped, so a truncated, emptied or swapped file is
  reported (or rebuilt) instead of killing the process with SIGBUS.
- Writers take a lock per key (fcntl.flock on a lock file, which also
  excludes other threads of the same process, since each opens its own file
  description) and publish by renaming a unique staging directory.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import stat

RECORD = "RECORD.json"
RECORD_FORMAT = "sqa-record"


class UntrustedPathError(RuntimeError):
    """A path another user could write, or that is not the caller's."""


class IntegrityError(RuntimeError):
    """Files are not the ones their RECORD lists (missing, truncated,
    changed) or the RECORD itself is unreadable."""


def _uid():
    return os.geteuid()


def untrusted_reason(path):
    """None when `path` (which must exist) and every directory above it are
    owned by the caller or root and writable by nobody else (a sticky
    directory may be writable by all); else the reason, naming the
    offending component."""
    real = os.path.realpath(path)
    uid = _uid()
    component = real
    child_owner = None
    while True:
        try:
            info = os.lstat(component)
        except OSError as err:
            return f"{component}: {err.strerror}"
        if info.st_uid not in (uid, 0):
            return f"{component} is owned by uid {info.st_uid}, not by uid {uid} or root"
        writable_by_others = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if writable_by_others:
            sticky = stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
            # In a sticky directory only an entry's owner (or root) can
            # rename it: safe when the entry below is the caller's or root's.
            if not (sticky and component != real and child_owner in (uid, 0)):
                return (f"{component} is writable by "
                        f"{'others' if info.st_mode & stat.S_IWOTH else 'its group'} "
                        f"(mode {stat.S_IMODE(info.st_mode):o})")
        child_owner = info.st_uid
        parent = os.path.dirname(component)
        if parent == component:
            return None
        component = parent


def require_trusted(path, what):
    """Raises UntrustedPathError unless `path` is a trusted path."""
    reason = untrusted_reason(path)
    if reason is not None:
        raise UntrustedPathError(f"refusing {what} {path}: {reason}")


def private_directory(path):
    """Creates `path` (0700) if needed and returns it, after checking that
    it is a trusted path owned by the caller; a directory of the caller's
    that others can read is made private. Raises UntrustedPathError, or
    OSError when it cannot be created."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.stat(path)
    if info.st_uid != _uid():
        raise UntrustedPathError(f"refusing cache directory {path}: owned by uid "
                                 f"{info.st_uid}, not by uid {_uid()}")
    require_trusted(path, "cache directory")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


@contextlib.contextmanager
def locked(path):
    """Holds an exclusive lock on the file `path` (created 0600): excludes
    other processes and other threads of this one."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _digest(path):
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def write_record(directory, identity):
    """Writes `directory`/RECORD.json: the size and SHA-256 of every regular
    file in `directory` (no subdirectories), and `identity` (what the files
    were built for, e.g. the configurations)."""
    files = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name == RECORD or not os.path.isfile(path):
            continue
        files[name] = {"size": os.path.getsize(path), "sha256": _digest(path)}
    record = {"format": RECORD_FORMAT, "identity": identity, "files": files}
    tmp = os.path.join(directory, f".{RECORD}.tmp")
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(directory, RECORD))


def verify_record(directory, identity=None, required=()):
    """Checks the files of `directory` against its RECORD before anything
    is loaded from it: sizes first (a truncated file is found without
    reading it), then SHA-256; `required` names files that must be listed;
    `identity`, when given, must be the recorded one. Raises IntegrityError
    saying what differs."""
    path = os.path.join(directory, RECORD)
    try:
        with open(path) as f:
            record = json.load(f)
    except OSError as err:
        raise IntegrityError(f"{directory}: no readable {RECORD} ({err.strerror})") from None
    except ValueError as err:
        raise IntegrityError(f"{path}: malformed ({err})") from None
    if (not isinstance(record, dict) or record.get("format") != RECORD_FORMAT
            or not isinstance(record.get("files"), dict)):
        raise IntegrityError(f"{path}: not a {RECORD_FORMAT} file")
    if identity is not None and record.get("identity") != identity:
        raise IntegrityError(f"{path}: built for {record.get('identity')!r}, "
                             f"not {identity!r}")
    files = record["files"]
    for name in required:
        if name not in files:
            raise IntegrityError(f"{path}: does not list {name}")
    for name, entry in files.items():
        if os.path.basename(name) != name or name in (".", ".."):
            raise IntegrityError(f"{path}: bad file name {name!r}")
        try:
            size = os.path.getsize(os.path.join(directory, name))
        except OSError as err:
            raise IntegrityError(f"{directory}/{name}: {err.strerror}") from None
        if not isinstance(entry, dict) or size != entry.get("size"):
            raise IntegrityError(f"{directory}/{name}: {size} bytes, its {RECORD} "
                                 f"says {entry.get('size') if isinstance(entry, dict) else '?'}")
    for name, entry in files.items():
        if _digest(os.path.join(directory, name)) != entry.get("sha256"):
            raise IntegrityError(f"{directory}/{name}: SHA-256 differs from its {RECORD}")
    return record
