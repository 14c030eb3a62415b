#!/usr/bin/env bash
# The main job: set up and build, then compile the xSQA example to PTX for
# sm_80 and check the same attention on the CPU (examples/xsqa.py).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec /usr/bin/python3 examples/xsqa.py "$@"
