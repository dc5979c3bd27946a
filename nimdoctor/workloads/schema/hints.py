"""Advice for a schema problem: where a misplaced or misspelled field belongs, how to write a value."""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping
from typing import Any

from nimdoctor.workloads.model import FieldPath

ITEM = "*"  # a list's items in a schema path
_MAX_DEPTH = 10  # the NIM specs nest about 8 deep; bounds the index of a strange installed CRD
_INDEXES: dict[int, tuple[Mapping[str, Any], dict[str, list[tuple[str, ...]]]]] = {}


def children(schema: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """A schema node's sub-schemas by step: property names, and `*` for list items or map values."""
    found: dict[str, Mapping[str, Any]] = {}
    props = schema.get("properties")
    if isinstance(props, Mapping):
        found.update((k, v) for k, v in props.items() if isinstance(v, Mapping))
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), Mapping):
            found[ITEM] = schema[key]
    return found


def known_paths(root: Mapping[str, Any]) -> dict[str, list[tuple[str, ...]]]:
    """Every field path in `root` by the field's lower-cased name (built once per schema)."""
    cached = _INDEXES.get(id(root))
    if cached is not None and cached[0] is root:
        return cached[1]
    index: dict[str, list[tuple[str, ...]]] = {}
    stack: list[tuple[tuple[str, ...], Mapping[str, Any]]] = [((), root)]
    while stack:
        path, node = stack.pop()
        if len(path) >= _MAX_DEPTH:
            continue
        for step, sub in children(node).items():
            here = (*path, step)
            if step != ITEM:
                index.setdefault(step.lower(), []).append(here)
            stack.append((here, sub))
    _INDEXES[id(root)] = (root, index)
    return index


def node_at(root: Mapping[str, Any], path: FieldPath) -> Mapping[str, Any] | None:
    """The schema node of the field at `path` (list indexes step into items)."""
    node: Mapping[str, Any] | None = root
    for part in path:
        if node is None:
            return None
        node = children(node).get(ITEM if isinstance(part, int) else part) or children(node).get(ITEM)
    return node


def suggest_field(root: Mapping[str, Any], path: FieldPath) -> FieldPath | None:
    """Where the unknown field at `path` probably belongs: the same name in another case or place (the
    place closest to where it was written), else a near spelling beside it. Paths are relative to `root`."""
    name = str(path[-1])
    parent = node_at(root, path[:-1])
    siblings = [k for k in children(parent) if k != ITEM] if parent is not None else []
    same = [k for k in siblings if k.lower() == name.lower()]
    if same:
        return (*path[:-1], same[0])
    elsewhere = known_paths(root).get(name.lower(), [])
    if elsewhere:
        best = max(elsewhere, key=lambda p: (_shared(p, path[:-1]), -len(p)))
        return tuple(_concrete(best, path))
    close = difflib.get_close_matches(name, siblings, n=1, cutoff=0.75)
    return (*path[:-1], close[0]) if close else None


def _shared(schema_path: tuple[str, ...], path: FieldPath) -> int:
    count = 0
    for step, part in zip(schema_path, path, strict=False):
        if step != (ITEM if isinstance(part, int) else part):
            break
        count += 1
    return count


def _concrete(schema_path: tuple[str, ...], path: FieldPath) -> list[str | int]:
    """A schema path with each `*` replaced by the index written at that place (else 0)."""
    out: list[str | int] = []
    for i, step in enumerate(schema_path):
        if step == ITEM:
            out.append(path[i] if i < len(path) - 1 and isinstance(path[i], int) else 0)
        else:
            out.append(step)
    return out


def explain_type(name: str, value: Any, expected: Any) -> tuple[str, str]:
    """(message, fix) for a value of the wrong type, with YAML's usual traps named."""
    wanted = expected if isinstance(expected, list) else [expected]
    wanted_text = " or ".join(map(str, wanted))
    if "string" in wanted and isinstance(value, bool):
        return (
            f"YAML reads {value!r} as a boolean (yes/no/on/off/true/false); the CRD wants a string",
            f'quote it: {name}: "{str(value).lower()}" (or the word as written)',
        )
    if "string" in wanted and isinstance(value, dt.date):
        return (
            f"YAML reads {value.isoformat()} as a date; the CRD wants a string",
            f'quote it: {name}: "{value.isoformat()}"',
        )
    if "string" in wanted and isinstance(value, int | float):
        return (
            f"YAML reads {value!r} as a number; the CRD wants a string",
            f'quote it as written: {name}: "{value}" (unquoted, YAML turns 1.10 into 1.1)',
        )
    if isinstance(value, str) and ("integer" in wanted or "number" in wanted or "boolean" in wanted):
        return (
            f"{value!r} is a string; the CRD wants {wanted_text}",
            f"remove the quotes around {name}'s value",
        )
    return (f"{_kind(value)} where the CRD wants {wanted_text}", f"make {name} {_article(wanted_text)}")


def explain_hidden_type(name: str, value: Any, expected: Any) -> tuple[str, str]:
    """(message, fix) for a value of the wrong type that may be a secret: its YAML type is named, never it."""
    wanted = expected if isinstance(expected, list) else [expected]
    wanted_text = " or ".join(map(str, wanted))
    message = f"{_kind(value, shown=False)} where the CRD wants {wanted_text} (the value is not shown)"
    if "string" in wanted and not isinstance(value, Mapping | list):
        return message, f"quote {name}'s value as written"
    return message, f"make {name} {_article(wanted_text)}"


def _kind(value: Any, *, shown: bool = True) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if not shown:
        # YAML's reading of an unquoted scalar: bool before number (a bool is an int in Python).
        kinds = ((bool, "a boolean"), (int | float, "a number"), (dt.date, "a date"))
        return next((text for kind, text in kinds if isinstance(value, kind)), "a scalar")
    return f"{value!r} ({type(value).__name__})"


def _article(text: str) -> str:
    return ("an " if text[:1] in "aeiou" else "a ") + text


def suggest_value(value: Any, allowed: list[Any]) -> str | None:
    """The allowed value that `value` probably means (another case, a near spelling)."""
    if not isinstance(value, str):
        return None
    texts = [a for a in allowed if isinstance(a, str)]
    same = [a for a in texts if a.lower() == value.lower()]
    close = same or difflib.get_close_matches(value, texts, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None
