"""Types of check parameters and fix templates: what an overlay may put where, checked when it is loaded.

A built-in check declares each parameter's type under `paramTypes`, as one of
- `count [LOW..HIGH]`: an integer (never a fraction, a boolean or a string), within the bounds;
- `number [LOW..HIGH]`: a finite number (never NaN or infinity), within the bounds;
- `version`: dotted ASCII digits, e.g. `535.86`; `capability`: a compute capability, `major.minor` (`8.9`);
- `quantity`: a Kubernetes quantity such as `16Gi`;
- `path`: an absolute path of plain characters (it is printed inside shell commands);
- `line`: one line of text of at most 80 characters; `text`: any text;
- `template`: text with `{name}` placeholders, only those the built-in value uses;
- `map TYPE`: a mapping of plain names to values of TYPE (an overlay adds or replaces single keys);
- `bool`; `data`: plain YAML data (strings, booleans, finite numbers, lists, mappings) of the built-in
  value's shape.
A parameter without a declaration gets one from its built-in value (an integer is a count of at least 0, a
float a finite number of at least 0, a string text, or a template when it has placeholders, a mapping a
`map` of its first value's type, anything else `data`), so a new parameter is checked from the start.

Templates (`fix`, and `template` parameters) take plain names only: `{current}`, never `{0}`, `{}`,
`{x.y}`, `{x[0]}`, `{x!r}` or `{x:>10}`. Filling one never raises: a placeholder without a value stays as
written.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}", re.ASCII)
_VERSION = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6}){0,3}", re.ASCII)
_CAPABILITY = re.compile(r"[0-9]{1,2}\.[0-9]{1,2}", re.ASCII)
_QUANTITY = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,6})?(?:[KMGTPE]i|[kMGTPE])?", re.ASCII)
_PATH = re.compile(r"/[A-Za-z0-9._@+/-]{0,255}", re.ASCII)
_BOUNDS = re.compile(r"(-?[0-9.]+)\.\.(-?[0-9.]+)", re.ASCII)
LINE_MAX = 80
TEXT_MAX = 16 * 1024
SCALARS = (
    "count",
    "number",
    "version",
    "capability",
    "quantity",
    "path",
    "line",
    "text",
    "template",
    "bool",
    "data",
)
DATA_DEPTH = 16


class ParamError(ValueError):
    """A value that does not fit its declared type; the message says what was expected."""


@dataclass(frozen=True)
class ParamSpec:
    """A parameter's declared type; `names` are the placeholders a `template` may use."""

    kind: str
    low: float | None = None
    high: float | None = None
    item: ParamSpec | None = None
    names: frozenset[str] = frozenset()

    def describe(self) -> str:
        """The type as it is declared (`count 1024..1073741816`)."""
        if self.item is not None:
            return f"map {self.item.describe()}"
        if self.low is not None and self.high is not None:
            return f"{self.kind} {_number_text(self.low)}..{_number_text(self.high)}"
        return self.kind


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e18 else f"{value:g}"


def parse_spec(text: str) -> ParamSpec:
    """A declaration (`count 1..8`, `map version`); `ParamError` for one that is not."""
    kind, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    if kind == "map":
        item = parse_spec(rest)
        if item.item is not None:
            raise ParamError("a map of maps is not a parameter type")
        return ParamSpec("map", item=item)
    if kind not in SCALARS:
        raise ParamError(f"unknown parameter type {kind!r} (known: {', '.join(SCALARS)}, map TYPE)")
    if not rest:
        return ParamSpec(kind)
    bounds = _BOUNDS.fullmatch(rest)
    if kind not in ("count", "number") or bounds is None:
        raise ParamError(f"{text!r}: only count and number take bounds, written LOW..HIGH")
    low, high = float(bounds.group(1)), float(bounds.group(2))
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise ParamError(f"{text!r}: bounds must be finite and LOW <= HIGH")
    return ParamSpec(kind, low, high)


def infer_spec(value: Any) -> ParamSpec:
    """The type of an undeclared parameter, from its built-in value."""
    if isinstance(value, bool):
        return ParamSpec("bool")
    if isinstance(value, int):
        return ParamSpec("count", 0, float(2**63 - 1))
    if isinstance(value, float):
        return ParamSpec("number", 0, 1e300)
    if isinstance(value, str):
        return ParamSpec("template") if template_names(value) else ParamSpec("text")
    if isinstance(value, dict) and value and not isinstance(next(iter(value.values())), dict | list):
        return ParamSpec("map", item=infer_spec(next(iter(value.values()))))
    return ParamSpec("data")


def bind(spec: ParamSpec, builtin: Any) -> ParamSpec:
    """The spec with what the built-in value fixes: a template's allowed placeholders."""
    if spec.kind == "template" and isinstance(builtin, str):
        return ParamSpec("template", names=frozenset(template_names(builtin)))
    if spec.item is not None and spec.item.kind == "template" and isinstance(builtin, dict):
        names = frozenset(n for v in builtin.values() if isinstance(v, str) for n in template_names(v))
        return ParamSpec("map", item=ParamSpec("template", names=names))
    return spec


def check_value(spec: ParamSpec, value: Any) -> Any:
    """The value if it fits `spec`; `ParamError` saying what was expected otherwise."""
    if spec.item is not None:
        if not isinstance(value, dict) or not value:
            raise ParamError(f"expected a mapping of names to {spec.item.describe()}, got {_show(value)}")
        for key, item in value.items():
            if not isinstance(key, str) or not _KEY.fullmatch(key):
                raise ParamError(f"key {_show(key)} is not a plain name")
            try:
                check_value(spec.item, item)
            except ParamError as exc:
                raise ParamError(f"{key}: {exc}") from None
        return value
    return _SCALAR_CHECKS[spec.kind](spec, value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _count(spec: ParamSpec, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamError(f"expected a whole number ({spec.describe()}), got {_show(value)}")
    return _within(spec, value)


def _number(spec: ParamSpec, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ParamError(f"expected a finite number ({spec.describe()}), got {_show(value)}")
    return _within(spec, value)


def _within(spec: ParamSpec, value: float) -> float:
    low = spec.low if spec.low is not None else 0.0
    if value < low or (spec.high is not None and value > spec.high):
        raise ParamError(f"{_show(value)} is outside {spec.describe()}")
    return value


def _matching(pattern: re.Pattern[str], what: str) -> Any:
    def check(spec: ParamSpec, value: Any) -> Any:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ParamError(f"expected {what}, got {_show(value)}")
        return value

    return check


def _text(spec: ParamSpec, value: Any) -> Any:
    if not isinstance(value, str) or len(value) > TEXT_MAX:
        raise ParamError(f"expected text of at most {TEXT_MAX} characters, got {_show(value)}")
    if spec.kind == "line" and ("\n" in value.strip() or len(value) > LINE_MAX):
        raise ParamError(f"expected one line of at most {LINE_MAX} characters")
    if spec.kind == "template":
        check_template(value, spec.names)
    return value


def _bool(spec: ParamSpec, value: Any) -> Any:
    if not isinstance(value, bool):
        raise ParamError(f"expected true or false, got {_show(value)}")
    return value


def _data(spec: ParamSpec, value: Any, depth: int = 0) -> Any:
    if depth > DATA_DEPTH:
        raise ParamError(f"nested more than {DATA_DEPTH} levels deep")
    if isinstance(value, float) and not math.isfinite(value):
        raise ParamError(f"expected a finite number, got {_show(value)}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        raise ParamError(f"{_show(value)} does not fit 64 bits")
    if isinstance(value, list):
        for item in value:
            _data(spec, item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ParamError(f"key {_show(key)} is not a string")
            _data(spec, item, depth + 1)
    elif not isinstance(value, str | bool | int | float):
        raise ParamError(f"expected plain YAML data, got {type(value).__name__}")
    return value


_SCALAR_CHECKS = {
    "count": _count,
    "number": _number,
    "version": _matching(_VERSION, "a version of dotted digits such as 535.86"),
    "capability": _matching(_CAPABILITY, "a compute capability major.minor such as 8.9"),
    "quantity": _matching(_QUANTITY, "a quantity such as 16Gi"),
    "path": _matching(_PATH, "an absolute path of letters, digits and ._@+-/"),
    "line": _text,
    "text": _text,
    "template": _text,
    "bool": _bool,
    "data": _data,
}


def template_names(template: str) -> list[str]:
    """The placeholder names of a template, in order; `ParamError` for anything but plain names."""
    names = []
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ParamError(f"template: {exc} (write a literal brace as {{{{ or }}}})") from None
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if not _NAME.fullmatch(name) or spec or conversion:
            written = (
                "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            )
            raise ParamError(f"template: placeholder {written[:40]!r} is not a plain name like {{current}}")
        names.append(name)
    return names


def check_template(template: str, allowed: frozenset[str]) -> None:
    """`ParamError` unless every placeholder is a plain name in `allowed`."""
    unknown = sorted(set(template_names(template)) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise ParamError(f"template: unknown placeholder {{{unknown[0]}}} (this check provides: {known})")


def fill(template: str, values: Mapping[str, Any]) -> str:
    """The template with its placeholders replaced; one without a value (or not a plain name) stays."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return template
    parts = []
    for literal, name, spec, conversion in fields:
        parts.append(literal)
        if name is None:
            continue
        if name in values and not spec and not conversion:
            parts.append(str(values[name]))
        else:
            parts.append(
                "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            )
    return "".join(parts)
