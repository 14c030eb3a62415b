#!/usr/bin/env bash
# Set-up, build, then every test this machine can run (lit: dialect, passes,
# pipelines, tools, CPU numerics, PTX through ptxas where the CUDA toolkit is
# installed). Ends with "N passed, N failed" and
# exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! scripts/setup.sh; then
  echo "0 passed, 1 failed"
  exit 1
fi

results=build/test-results.json
rm -f "$results"
/usr/lib/llvm-22/bin/lit -sv -j "$(nproc)" -o "$results" build/test
lit_status=$?

/usr/bin/python3 - "$results" "$lit_status" <<'PY'
import json, sys
path, status = sys.argv[1], int(sys.argv[2])
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
if unsupported:
    print(f"{unsupported} unsupported here (their REQUIRES are not met)")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
