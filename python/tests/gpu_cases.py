"""The attention calls of the GPU tests (test_pytorch.py), as data.

The GPU machine has no compiler, so every kernel these calls use must be in
a precompiled bundle: scripts/gpu_kernels.py lists `kernel_configs()` (with
the benchmark's), scripts/gpu-bundle.sh builds them and gpu-check.sh
--dry-run checks the bundle against the same list. A test that makes a call
not listed here fails on that machine with the missing configuration.
"""

from dataclasses import dataclass
from typing import Optional, Tuple

from sqa import VARIANTS


@dataclass(frozen=True)
class Call:
    """sqa_attention on [B, H, S, D] inputs of these sizes."""

    name: str
    hq: int
    hkv: int
    sq: int
    skv: int
    d: int
    dtype: str  # "f16" or "bf16"
    causal: object = False
    window: Optional[Tuple[int, int]] = None
    layout: str = "bhsd"

    def __str__(self):
        mask = {False: "full", True: "causal", "bottom_right": "causal_br"}[self.causal]
        window = f"-w{self.window[0]}_{self.window[1]}" if self.window else ""
        return f"{self.name}-{self.dtype}-d{self.d}-{mask}{window}"


# Every variant, both half types, each mask, a window; Sq != Skv.
VARIANT_CALLS = [
    Call(name, *VARIANTS[name], 200, 333, 64, dtype, causal, window)
    for name in VARIANTS
    for dtype in ("f16", "bf16")
    for causal, window in ((False, None), (True, None), ("bottom_right", None), (False, (64, 0)))
]
# Every tensor-core head dim, in both layouts.
HEAD_DIM_CALLS = [Call("SQA", 8, 4, 130, 130, d, "bf16", True)
                  for d in (16, 32, 48, 64, 80, 96, 128, 160, 192, 224, 256)]
# SparseQueryAttention.from_variant("xSQA", d_model=256, causal=True) in f16.
MODULE_CALL = Call("xSQA", 4, 4, 1024, 1024, 16, "f16", True)


# Gradients through the backward kernels (test_gradients_on_gpu): every head
# mapping, both causal alignments, a window, Sq != Skv both ways, head dims 32
# to 128, both layouts.
GRAD_CALLS = [
    Call("MHA", 16, 16, 130, 130, 64, "f16", False),
    Call("GQA", 16, 4, 100, 257, 64, "bf16", "bottom_right", None, "bshd"),
    Call("MQA", 16, 1, 257, 100, 128, "f16", "bottom_right"),
    Call("SQA", 8, 4, 200, 200, 64, "bf16", True),
    Call("xSQA", 4, 4, 300, 300, 128, "f16", True, None, "bshd"),
    Call("xSMQA", 4, 1, 96, 160, 32, "bf16", False, (64, 0)),
    Call("rSQA", 4, 8, 150, 120, 64, "f16", "bottom_right"),
    Call("rSQA-1/4", 1, 4, 128, 128, 128, "bf16", True, None, "bshd"),
    Call("GQA-96", 16, 4, 140, 190, 96, "bf16", "bottom_right"),
    Call("SQA-160", 8, 4, 120, 120, 160, "f16", True, None, "bshd"),
]


def all_calls():
    return VARIANT_CALLS + HEAD_DIM_CALLS + [MODULE_CALL]


def kernel_configs():
    """The AttentionConfigs of every call, as sqa_attention derives them;
    for the gradient calls the forward with its log-sum-exp and the
    backward."""
    import torch
    from sqa.pytorch import attention_config

    dtypes = {"f16": torch.float16, "bf16": torch.bfloat16}
    config = lambda c: attention_config((1, c.hq, c.sq, c.d), (1, c.hkv, c.skv, c.d),
                                        (1, c.hkv, c.skv, c.d), dtypes[c.dtype], c.causal,
                                        None, c.window)
    configs = [config(c) for c in all_calls()]
    for c in GRAD_CALLS:
        configs += [config(c).with_(with_lse=True), config(c).with_(grad_dtype=c.dtype)]
    return configs
