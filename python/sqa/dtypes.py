"""NumPy views of the element types, including bf16 as raw 16-bit words."""

import numpy as np


def to_bf16_bits(x):
    """Rounds float values to bf16 (nearest even) and returns them as uint16."""
    bits = np.asarray(x, dtype=np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + 0x7FFF
    return ((bits + rounding) >> 16).astype(np.uint16)


def from_bf16_bits(bits):
    """The float32 values of bf16 numbers stored as uint16."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def quantize(x, dtype):
    """Returns (array to store in an .npy file, its exact float64 values)."""
    if dtype == "f32":
        stored = np.asarray(x, dtype=np.float32)
        return stored, stored.astype(np.float64)
    if dtype == "f16":
        stored = np.asarray(x, dtype=np.float16)
        return stored, stored.astype(np.float64)
    if dtype == "bf16":
        stored = to_bf16_bits(x)
        return stored, from_bf16_bits(stored).astype(np.float64)
    raise ValueError(f"unknown dtype {dtype!r}")


def dequantize(stored, dtype):
    """The float64 values of an array read back from an .npy file."""
    if dtype == "bf16":
        return from_bf16_bits(stored).astype(np.float64)
    return np.asarray(stored, dtype=np.float64)


# Unit roundoff-based tolerance per output type: 2 ulp at magnitude 1 (the
# output rounding alone is half an ulp; the rest covers f32 accumulation
# order and exp/exp2 differences, which are ~1e-6).
ABS_TOLERANCE = {"f32": 2e-5, "f16": 2 * 2.0**-10, "bf16": 2 * 2.0**-7}
