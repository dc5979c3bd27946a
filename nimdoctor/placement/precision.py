"""Precisions and the bytes each parameter takes in them.

[NVIDIA] "Troubleshooting GPU Memory Out-of-Memory Errors" (NIM for LLMs): BF16 and FP16 take 2 bytes per
parameter, FP8 1, INT4 and NVFP4 0.5. FP32 (4), INT8 (1) and MXFP4 (0.5) follow from their widths.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

DEFAULT = "bf16"
FP8 = "fp8"
_SIXTEEN_BIT = frozenset({"bf16", "fp16"})

# Keys are the catalog's MODEL_PRECISIONS (a test keeps the two equal).
BYTES_PER_PARAM: Mapping[str, float] = MappingProxyType(
    {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1, "int4": 0.5, "nvfp4": 0.5, "mxfp4": 0.5}
)

# Spellings seen in NIM profile tags, Hugging Face configs and quantisation tools.
_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "bfloat16": "bf16",
        "float16": "fp16",
        "half": "fp16",
        "float32": "fp32",
        "float8": "fp8",
        "int4_awq": "int4",
        "awq": "int4",
        "w4a16": "int4",
        "int8_wo": "int8",
        "int8wo": "int8",
        "w8a16": "int8",
        "fp4": "nvfp4",
    }
)


def canonical(name: str) -> str | None:
    """The canonical precision for a spelling (`BF16`, `bfloat16` -> `bf16`); `None` when unknown."""
    text = name.strip().lower()
    text = _ALIASES.get(text, text)
    return text if text in BYTES_PER_PARAM else None


def same_class(a: str, b: str) -> bool:
    """Equal, or both 2-byte floats: NVIDIA's support matrices write FP16 and BF16 for the same profiles."""
    return a == b or {a, b} <= _SIXTEEN_BIT


def known() -> str:
    """The canonical precisions, for messages."""
    return ", ".join(BYTES_PER_PARAM)
