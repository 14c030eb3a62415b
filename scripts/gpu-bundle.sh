#!/usr/bin/env bash
# scripts/gpu-bundle.sh DIR
#
# Run on the build machine (the one with LLVM/MLIR and the CUDA toolkit's
# ptxas): builds the project if needed, then writes into DIR the kernel
# bundle the GPU checks need -- every configuration of the GPU tests and of
# bench/gpu_attention.py (scripts/gpu_kernels.py lists them), as precompiled
# cubins for sm_80 and sm_90 (where ptxas supports them) plus PTX, with
# their launchers built as shared objects -- and checks that DIR stays under
# 48 MiB. On the GPU machine: SQA_KERNEL_PATH=DIR scripts/gpu-check.sh.
#
# Environment: SQA_BUILD_DIR (use these tools, skip the build), PYTHON (a
# Python with NumPy and torch; default /usr/bin/python3), JOBS.
set -euo pipefail
if [ $# -ne 1 ] || [[ "$1" == -* ]]; then
  echo "usage: scripts/gpu-bundle.sh DIR" >&2
  exit 2
fi
mkdir -p "$1"
dir=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."
python=${PYTHON:-/usr/bin/python3}
if [ -z "${SQA_BUILD_DIR:-}" ]; then
  scripts/setup.sh
  export SQA_BUILD_DIR="$PWD/build"
fi
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"

"$python" scripts/gpu_kernels.py > "$dir/required-configs.txt"
"$python" -m sqa.bundle build "$dir" --configs-from "$dir/required-configs.txt" \
  ${JOBS:+--jobs "$JOBS"}

limit=$((48 * 1024 * 1024))
size=$(du -sb "$dir" | cut -f1)
if [ "$size" -ge "$limit" ]; then
  echo "gpu-bundle: error: $dir is $size bytes, over the 48 MiB limit" >&2
  exit 1
fi
echo "gpu-bundle: $dir holds $(grep -c . "$dir/required-configs.txt") required configurations in $((size / 1024)) KiB"
