#!/usr/bin/env python3
"""Prints the kernel configurations the GPU checks need, one key per line
(sqa.library.config_key): every call of the GPU tests
(python/tests/gpu_cases.py) and every shape of bench/gpu_attention.py in
f16 and bf16. scripts/gpu-bundle.sh builds them; scripts/gpu-check.sh
--dry-run checks a bundle against them. Needs torch (the configurations are
derived by sqa.pytorch.attention_config, as sqa_attention derives them).
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in ("python", os.path.join("python", "tests"), "bench"):
    sys.path.insert(0, os.path.join(ROOT, path))

import gpu_attention  # noqa: E402
import gpu_cases  # noqa: E402
from sqa.library import config_key  # noqa: E402


def main():
    keys = []
    for cfg in gpu_cases.kernel_configs() + gpu_attention.kernel_configs():
        key = config_key(cfg)
        if key not in keys:
            keys.append(key)
    print("\n".join(keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
