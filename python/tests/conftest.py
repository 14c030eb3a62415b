"""pytest configuration: the package under test is python/sqa."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "gpu: needs a CUDA GPU (selected by scripts/gpu-check.sh with -m gpu)")
    config.addinivalue_line(
        "markers", "ring4: a 4-process ring attention case (test/python/torch-root.test "
                   "deselects them: the same code runs them on Debian's torch in pytest.test)")
