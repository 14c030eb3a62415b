#!/usr/bin/env bash
# A current PyTorch for the tests, from Debian's archive: Debian 13 (trixie)
# packages torch 2.6, which has torch.library.custom_op, torch.compile and
# torch.export; Debian 12 (this machine) packages 1.13, and PyPI is out of
# reach. The root is a debootstrap of trixie with python3-torch (and what
# Inductor compiles with) under $SQA_TORCH_ROOT (default torch-root in
# $SQA_BUILD_DIR, or in build/), made once.
#
#   scripts/torch-root.sh create           makes the root when it is missing
#   scripts/torch-root.sh run CMD [ARG...] runs CMD in it, in this directory
#                                          (under the repository or the build)
#
# `run` works in a private mount namespace (unshare -m), so its bind mounts
# end with the command: the repository (and $SQA_BUILD_DIR, where outside it)
# at their own paths, and this machine's LLVM 22, whose libraries the built
# tools load (trixie has no LLVM 22; its C++ runtime is newer than Debian
# 12's, so the tools run there unchanged). Needs root.
set -euo pipefail
# chroot, debootstrap and mount live in sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"
repo="$(cd "$(dirname "$0")/.." && pwd)"
build="${SQA_BUILD_DIR:-$repo/build}"
[ -d "$build" ] && build="$(cd "$build" && pwd)"
root="${SQA_TORCH_ROOT:-$build/torch-root}"
llvm=/usr/lib/llvm-22
suite=trixie
mirror=http://deb.debian.org/debian
packages=(python3-torch python3-numpy python3-pytest python3-pip python3-setuptools
          # torch.compile's default backend (Inductor) builds C++ with them.
          g++ python3-dev libtorch-dev
          # What this machine's libLLVM and libMLIR link beside libc.
          libffi8 libedit2 libz3-4 libxml2 zlib1g libzstd1 libtinfo6)

die() { echo "torch-root: $*" >&2; exit 1; }

create() {
  # The stamp holds the package list: a root made with another is made again.
  local stamp="$suite ${packages[*]}"
  [ -f "$root/.sqa-ready" ] && [ "$(cat "$root/.sqa-ready")" = "$stamp" ] && return 0
  [ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and mounts)"
  if ! command -v debootstrap >/dev/null; then
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap ||
        { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap; }
    } >/dev/null || die "cannot install debootstrap"
  fi
  # Never delete through a mount (the repository bound inside by `run`).
  if grep -q " $root/" /proc/self/mounts; then die "something is mounted under $root"; fi
  echo "torch-root: debootstrap $suite into $root (about 1.5 GiB, once)"
  local include attempt
  include="$(IFS=,; echo "${packages[*]}")"
  # Twice: a download that fails once (a mirror's hiccup) is retried.
  for attempt in 1 2; do
    rm -rf "$root"
    debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" \
      >"$root.log" 2>&1 && break
    [ "$attempt" -eq 2 ] && die "debootstrap failed twice: see $root.log"
    echo "torch-root: debootstrap failed; once more"
  done
  # (Without /proc, torch's UCX prints an error line; only the version counts.)
  local version
  version="$(chroot "$root" python3 -c "import torch; print(torch.__version__)" 2>/dev/null | tail -1)" ||
    die "torch does not import in $root"
  echo "torch-root: torch $version"
  echo "$stamp" >"$root/.sqa-ready"
}

# Bind-mounts host path $1 (a directory or a file) at the same path in the root.
bind() {
  local target="$root$1"
  if [ -d "$1" ]; then mkdir -p "$target"; else mkdir -p "$(dirname "$target")" && touch "$target"; fi
  mount --bind "$1" "$target"
}

run_inside() {
  [ -f "$root/.sqa-ready" ] || die "no root at $root: run 'scripts/torch-root.sh create'"
  bind "$repo"
  if [ -d "$build" ]; then
    case "$build/" in "$repo"/*) ;; *) bind "$build" ;; esac
  fi
  bind "$llvm"
  # Debian's LLVM 22 keeps libLLVM in the multiarch directory, linked from
  # $llvm/lib: bind each such target too.
  local lib real
  for lib in "$llvm"/lib/*.so*; do
    real="$(readlink -f "$lib")"
    case "$real" in "$llvm"/*) ;; *) [ -f "$real" ] && bind "$real" ;; esac
  done
  mkdir -p "$root/proc" && mount -t proc proc "$root/proc"
  exec chroot "$root" /usr/bin/env -C "$PWD" "$@"
}

case "${1:-}" in
  create) create ;;
  run)
    shift
    [ $# -gt 0 ] || die "run: no command"
    [ "$(id -u)" -eq 0 ] || die "needs root (chroot and mounts)"
    # The mounts live in a private namespace and end with the command.
    exec unshare -m "$0" __inside "$@" ;;
  __inside) shift; run_inside "$@" ;;
  *) die "usage: $0 create | run CMD [ARG...]" ;;
esac
