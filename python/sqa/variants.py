"""Head configurations of the SQA paper (arXiv 2510.01817) and its baselines.

For a baseline of H = 16 heads: Hq query heads and Hkv key/value heads.
"""

from dataclasses import dataclass, replace
from typing import Optional, Tuple

# name: (query heads, key/value heads)
VARIANTS = {
    "MHA": (16, 16),
    "GQA": (16, 4),
    "MQA": (16, 1),
    "SQA": (8, 4),
    "sSQA": (8, 8),
    "xSQA": (4, 4),
    "xSMQA": (4, 1),
    "lSQA": (12, 4),
    "rSQA": (4, 8),
}

MASKS = ("none", "causal_bottom_right", "causal_top_left")
DTYPES = ("f32", "f16", "bf16")


@dataclass(frozen=True)
class AttentionConfig:
    """Everything static about one sqa.attention op."""

    num_query_heads: int
    num_kv_heads: int
    head_dim: int = 16
    value_head_dim: Optional[int] = None
    dtype: str = "f32"
    out_dtype: Optional[str] = None
    mask: str = "none"
    window: Optional[Tuple[int, int]] = None
    scale: Optional[float] = None
    with_lse: bool = False
    # Set: the configuration is the backward (sqa.attention_grad) of this
    # attention, with gradients of this element type.
    grad_dtype: Optional[str] = None
    # Set: the op's diagonal_offset (row i's diagonal is key i + offset, for
    # the causal mask and the window), as ring attention gives each pair of
    # sequence chunks. Emitted into the IR of the CPU path only: kernel
    # libraries take no offset (their configuration grammar has none).
    diagonal_offset: Optional[int] = None

    @property
    def num_output_heads(self) -> int:
        return max(self.num_query_heads, self.num_kv_heads)

    @property
    def dv(self) -> int:
        return self.value_head_dim or self.head_dim

    @property
    def output_dtype(self) -> str:
        return self.out_dtype or self.dtype

    def with_(self, **changes) -> "AttentionConfig":
        return replace(self, **changes)


def variant(name: str, **kwargs) -> AttentionConfig:
    """The preset `name` (a key of VARIANTS) with optional overrides."""
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
    hq, hkv = VARIANTS[name]
    return AttentionConfig(num_query_heads=hq, num_kv_heads=hkv, **kwargs)
