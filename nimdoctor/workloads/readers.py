"""Readers of untrusted YAML/JSON values that never raise on odd input (a list where a mapping was due)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def at(value: Any, *path: str | int) -> Any:
    """The value at `path` in nested mappings and lists; None where any step is missing or of another type."""
    for key in path:
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and 0 <= key < len(value) else None
        else:
            value = value.get(key) if isinstance(value, Mapping) else None
        if value is None:
            return None
    return value


def text(value: Any) -> str | None:
    """A non-empty string, else None."""
    return value.strip() if isinstance(value, str) and value.strip() else None


def whole(value: Any) -> int | None:
    """An int, or a string of digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}
