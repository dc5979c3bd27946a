"""YAML reading through libyaml when PyYAML has it (several times faster than the pure-Python parser,
which matters for a command that starts by loading the whole catalog), with limits for untrusted input.

PyYAML shares an aliased node instead of copying it, so a "billion laughs" document loads in microseconds
and explodes only when something walks it (validation, JSON output). A document that uses aliases is
therefore first measured from its parser events, counting every alias as the nodes it stands for, and
refused past `MAX_NODES`. Documents without an alias skip that pass. libyaml refuses nesting deeper than
1000 levels itself; the pure-Python parser's recursion error becomes a `YAMLError` too.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_CHARS = 16 << 20
MAX_NODES = 1_000_000
_ALIAS = re.compile(r"(?:^|[\s\[{,:?-])\*[^\s,\[\]{}]")


class YamlLimitError(yaml.YAMLError):
    """The document is larger than nimdoctor reads (in text, or in nodes once its aliases are expanded)."""


def safe_load(text: str) -> Any:
    """Parse one YAML document with the safe loader; raises `yaml.YAMLError` on bad or oversized input."""
    _check(text)
    try:
        return yaml.load(text, Loader=_Loader)
    except RecursionError:
        raise YamlLimitError("nested too deeply") from None


def safe_load_all(text: str) -> list[Any]:
    """Parse every document of a YAML stream with the safe loader."""
    _check(text)
    try:
        return list(yaml.load_all(text, Loader=_Loader))
    except RecursionError:
        raise YamlLimitError("nested too deeply") from None


def error_text(exc: yaml.YAMLError) -> str:
    """One line for a YAML error: where, and what; never the offending text itself (it may be huge)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        what = ", ".join(p for p in (exc.context, exc.problem) if p)
        return f"{where}{what}"
    return " ".join(str(exc).split())


def _check(text: str) -> None:
    if len(text) > MAX_CHARS:
        raise YamlLimitError(f"{len(text)} characters; nimdoctor reads at most {MAX_CHARS}")
    if _ALIAS.search(text):
        _count_nodes(text)


def _count_nodes(text: str) -> None:
    """Raise `YamlLimitError` when the stream holds more than `MAX_NODES` nodes with aliases expanded."""
    sizes: dict[str, int] = {}
    stack: list[list[Any]] = [
        [None, 0]
    ]  # [anchor, nodes so far] per open collection; the stream at the bottom
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            stack.append([event.anchor, 1])
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, size = stack.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            anchor, size = None, sizes.get(event.anchor or "", 1)
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        stack[-1][1] += size
        if stack[-1][1] > MAX_NODES:
            raise YamlLimitError(f"more than {MAX_NODES} nodes once its aliases are expanded")
