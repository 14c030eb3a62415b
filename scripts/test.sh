#!/usr/bin/env bash
# Set-up, build, then every test this machine can run (lit: dialect, passes,
# pipelines, tools, CPU numerics, PTX through ptxas where the CUDA toolkit is
# installed). Ends with "N passed, N failed" and
# exits non-zero on any failure.
#
# --full (lit --param sweep=full) adds what CI leaves out of the long
# sweeps: the slow cases of the emulated tensor-core sweep (numerics.py's
# full_sweep ones) and the other element type of each spill-sweep
# configuration (docs/testing.md). Run it when kernel code changes.
set -uo pipefail
cd "$(dirname "$0")/.."

sweep=ci
for arg in "$@"; do
  case "$arg" in
    --full) sweep=full ;;
    *) echo "usage: scripts/test.sh [--full]" >&2; exit 2 ;;
  esac
done

if ! scripts/setup.sh; then
  echo "0 passed, 1 failed"
  exit 1
fi

# A current torch for the front end's torch >= 2.4 tests (Debian 12's is 1.13):
# Debian 13's, in a root made once (scripts/torch-root.sh). Its test
# (test/python/torch-root.test) is unsupported without it; so a failure to
# make it counts as a failure here.
root_status=0
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
if ! $sudo scripts/torch-root.sh create; then
  echo "test: could not make the torch root (scripts/torch-root.sh create)"
  root_status=1
fi

results=build/test-results.json
rm -f "$results"
/usr/lib/llvm-22/bin/lit -sv -j "$(nproc)" --param sweep="$sweep" -o "$results" build/test
lit_status=$?

/usr/bin/python3 - "$results" "$lit_status" "$root_status" <<'PY'
import json, sys
path, status, root_failed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
try:
    tests = json.load(open(path))["tests"]
except (OSError, ValueError, KeyError):
    print("0 passed, 1 failed")
    sys.exit(1)
codes = [t["code"] for t in tests]
passed = sum(c in ("PASS", "XFAIL") for c in codes)
failed = sum(c in ("FAIL", "XPASS", "UNRESOLVED", "TIMEOUT") for c in codes)
unsupported = sum(c == "UNSUPPORTED" for c in codes)
if status != 0 and failed == 0:
    failed = 1  # lit itself failed
failed += root_failed  # the torch root's test could not run
if unsupported:
    print(f"{unsupported} unsupported here (their REQUIRES are not met)")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
