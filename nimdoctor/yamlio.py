"""YAML reading through libyaml when PyYAML has it (several times faster than the pure-Python parser,
which matters for a command that starts by loading the whole catalog)."""

from __future__ import annotations

from typing import Any

import yaml

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """Parse one YAML document with the safe loader; raises `yaml.YAMLError` on bad input."""
    return yaml.load(text, Loader=_Loader)


def safe_load_all(text: str) -> list[Any]:
    """Parse every document of a YAML stream with the safe loader."""
    return list(yaml.load_all(text, Loader=_Loader))
