#!/usr/bin/env bash
# scripts/gpu-check.sh [--dry-run] [--out DIR]
#
# The GPU check, on a machine with PyTorch and a CUDA GPU but no LLVM/MLIR
# and no CUDA toolkit headers: from this repository and a kernel bundle found
# through SQA_KERNEL_PATH (scripts/gpu-bundle.sh writes one), it checks the
# bundle, runs the GPU pytest suite (pytest -m gpu), then
# bench/gpu_attention.py (forward, then forward + backward), in at most 8
# minutes of wall time, and writes under --out (default
# gpu-check-results/<date>): environment.txt (date, device, torch, CUDA
# driver), bundle-check.txt, pytest.log and pytest.xml, bench.txt and
# bench-backward.txt (the TFLOP/s tables) and summary.txt (all of it in
# short).
#
# --dry-run needs no GPU: it checks that the bundle holds every kernel the
# suite and the benchmark use, that each launcher loads and exports its entry
# points, and reports whether the CUDA driver loads with the entry points the
# launchers call; it exits non-zero naming what is missing.
#
# Environment: SQA_KERNEL_PATH (required), PYTHON (default python3),
# SQA_GPU_CHECK_SECONDS (the wall-time budget, default 480).
set -uo pipefail
dry_run=0
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --out) [ $# -ge 2 ] || { echo "gpu-check: --out needs a directory" >&2; exit 2; }
           out=$2; shift ;;
    --out=*) out=${1#--out=} ;;
    *) echo "usage: scripts/gpu-check.sh [--dry-run] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$out" ]; then
  mkdir -p "$out" && out=$(cd "$out" && pwd) || { echo "gpu-check: cannot create $out" >&2; exit 2; }
fi
start=$(date +%s)
budget=${SQA_GPU_CHECK_SECONDS:-480}
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"

fail() { echo "gpu-check: error: $*" >&2; exit 1; }
[ -n "${SQA_KERNEL_PATH:-}" ] ||
  fail "SQA_KERNEL_PATH is not set: point it at a bundle from scripts/gpu-bundle.sh DIR"
keys=$("$python" scripts/gpu_kernels.py) || fail "cannot list the required kernels (needs torch)"

if [ "$dry_run" -eq 1 ]; then
  printf '%s\n' "$keys" | "$python" -m sqa.bundle check --configs-from -
  status=$?
  [ $status -eq 0 ] && echo "gpu-check: dry run passed" || echo "gpu-check: dry run FAILED" >&2
  exit $status
fi

out=${out:-$PWD/gpu-check-results/$(date -u +%Y-%m-%dT%H%M%SZ)}
mkdir -p "$out" || fail "cannot create $out"
"$python" - > "$out/environment.txt" <<'PY' || fail "no CUDA GPU visible to torch"
import ctypes, datetime, subprocess, sys
import torch
if not torch.cuda.is_available():
    sys.exit(1)
version = ctypes.c_int()
ctypes.CDLL("libcuda.so.1").cuDriverGetVersion(ctypes.byref(version))
try:
    smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=20).stdout.strip()
except (OSError, subprocess.SubprocessError):
    smi = "n/a"
major, minor = torch.cuda.get_device_capability()
print(f"date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}")
print(f"device: {torch.cuda.get_device_name()} (sm_{major}{minor})")
print(f"torch: {torch.__version__} (CUDA runtime {torch.version.cuda})")
print(f"driver: {smi} (CUDA driver API {version.value // 1000}.{version.value % 1000 // 10})")
PY
cat "$out/environment.txt"

printf '%s\n' "$keys" | "$python" -m sqa.bundle check --configs-from - --require-driver \
  > "$out/bundle-check.txt" 2>&1
bundle_status=$?
tail -2 "$out/bundle-check.txt"
[ $bundle_status -eq 0 ] || fail "the bundle check failed: see $out/bundle-check.txt"

remaining() { echo $((budget - ($(date +%s) - start))); }
test_seconds=$(( $(remaining) / 2 ))
timeout "$test_seconds" "$python" -m pytest -m gpu -q -p no:cacheprovider -rfEs \
  --junitxml="$out/pytest.xml" python/tests/test_pytorch.py > "$out/pytest.log" 2>&1
pytest_status=$?
tail -3 "$out/pytest.log"
counts=$("$python" - "$out/pytest.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print("pytest wrote no report (timed out or crashed)")
    sys.exit()
suite = root if root.tag == "testsuite" else root.find("testsuite")
get = lambda key: int(suite.get(key, 0))
failed = get("failures") + get("errors")
print(f"{get('tests') - failed - get('skipped')} passed, {failed} failed, {get('skipped')} skipped")
PY
)

# Two thirds of what is left for the forward benchmark, the rest for
# forward + backward on FlashAttention-2's shapes.
bench_seconds=$(( ($(remaining) - 15) * 2 / 3 ))
if [ "$bench_seconds" -gt 30 ]; then
  timeout "$bench_seconds" "$python" bench/gpu_attention.py --repeats 5 --budget 1 \
    --time-limit $((bench_seconds - 60 > 30 ? bench_seconds - 60 : 30)) --out "$out/bench.txt" \
    > "$out/bench.log" 2>&1
  bench_status=$?
else
  echo "# no time left for the benchmark" > "$out/bench.txt"
  bench_status=1
fi
backward_seconds=$(( $(remaining) - 15 ))
if [ "$backward_seconds" -gt 30 ]; then
  timeout "$backward_seconds" "$python" bench/gpu_attention.py --backward --suite FA2 \
    --repeats 5 --budget 1 \
    --time-limit $((backward_seconds - 60 > 30 ? backward_seconds - 60 : 30)) \
    --out "$out/bench-backward.txt" > "$out/bench-backward.log" 2>&1 || bench_status=1
else
  echo "# no time left for the backward benchmark" > "$out/bench-backward.txt"
fi

{
  cat "$out/environment.txt"
  echo "GPU tests: $counts (pytest exit $pytest_status)"
  echo "benchmark: exit $bench_status, $(($(date +%s) - start)) s in all"
  cat "$out/bench.txt" 2>/dev/null || tail -5 "$out/bench.log"
  cat "$out/bench-backward.txt" 2>/dev/null || tail -5 "$out/bench-backward.log"
} > "$out/summary.txt"
cat "$out/summary.txt"
[ $pytest_status -eq 0 ] && [ $bench_status -eq 0 ]
