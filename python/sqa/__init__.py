"""Python front end of the SQA compiler: variant presets, IR emission,
compile helpers and an independent NumPy reference."""

from .variants import VARIANTS, AttentionConfig, variant
from .reference import attention_reference
from .ir import emit_attention_module

__all__ = [
    "VARIANTS",
    "AttentionConfig",
    "variant",
    "attention_reference",
    "emit_attention_module",
]
