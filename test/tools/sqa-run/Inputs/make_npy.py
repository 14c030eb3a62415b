"""Writes a random .npy file: make_npy.py PATH DTYPE DIM [DIM ...]."""
import sys

import numpy as np

path, dtype, *dims = sys.argv[1:]
np.save(path, np.random.default_rng(0).standard_normal([int(d) for d in dims]).astype(dtype))
