"""Python front end of the SQA compiler: variant presets, IR emission,
compile helpers and an independent NumPy reference."""

__version__ = "0.1.0"

from .variants import VARIANTS, AttentionConfig, variant
from .reference import attention_grad_reference, attention_reference
from .ir import emit_attention_grad_module, emit_attention_module

__all__ = [
    "__version__",
    "VARIANTS",
    "AttentionConfig",
    "variant",
    "attention_reference",
    "attention_grad_reference",
    "emit_attention_module",
    "emit_attention_grad_module",
]
