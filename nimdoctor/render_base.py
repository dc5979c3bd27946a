"""What every renderer shares: JSON/YAML documents, a buffered console, kubectl-style tables, fix blocks.

The output contract every command follows: `-o table|wide|json|yaml`; tables fit the width
`nimdoctor.tables.output_width` gives; JSON and YAML are one document with `apiVersion` and `kind` (see
`nimdoctor.documents`), ending with a newline, YAML writing multi-line strings as `|` block scalars.
"""

from __future__ import annotations

import io
import re
import textwrap
from collections.abc import Iterable
from typing import Any

import msgspec
import yaml

from nimdoctor.report import Status
from nimdoctor.sanitize import clean_line, clean_text, plain_data
from nimdoctor.tables import Table, make_columns, output_width, wrap

FORMATS = ("table", "wide", "json", "yaml")
STATUS_STYLE = {
    Status.PASS: "green",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.ERROR: "magenta",
    Status.SKIP: "dim",
}


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """The safe dumper (libyaml's when PyYAML has it) writing multi-line strings as block scalars."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # The emitter falls back to a quoted scalar where a block cannot hold the text (trailing spaces).
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _represent_str)


def render_data(data: Any, fmt: str) -> str:
    """Data (plain values or msgspec structs) as a JSON or YAML document ending with a newline; always valid:
    no NaN, no unencodable characters."""
    if fmt == "json":
        return _json(data)
    data = plain_data(msgspec.to_builtins(data))
    text: str = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return text


def _json(data: Any) -> str:
    """msgspec encodes structs as they are, without a copy as plain values (a 20,000-object workload report
    took 1.4 GB that way), and writes non-finite numbers as null; text with lone surrogates, which UTF-8
    cannot hold, goes the slower way through `plain_data`. Non-ASCII is escaped as `json.dumps` does, so no
    bidirectional override or C1 control reaches a terminal raw.

    At most two copies of the document are alive at once: non-ASCII is escaped in the compact encoding,
    before indenting, and each stage is dropped as soon as the next exists (a 200 MB document held three).
    """
    try:
        encoded = msgspec.json.encode(data)
    except UnicodeEncodeError:
        encoded = msgspec.json.encode(plain_data(msgspec.to_builtins(data)))
    escaped = _ascii(encoded)
    del encoded
    formatted = msgspec.json.format(escaped, indent=2)
    del escaped
    text = formatted.decode("ascii")
    del formatted
    text += "\n"  # in place: the only reference
    return text


# Runs of non-ASCII bytes: whole UTF-8 sequences, as every byte around them is ASCII.
_NON_ASCII = re.compile(b"[\x80-\xff]+")


def _ascii(encoded: bytes) -> bytes | bytearray:
    """`encoded` with each run of non-ASCII bytes escaped, built in one growing buffer (`re.sub` would hold
    its pieces beside the result); the same object when all of it is ASCII."""
    out: bytearray | None = None
    view = memoryview(encoded)
    last = 0
    for match in _NON_ASCII.finditer(encoded):
        out = bytearray() if out is None else out
        out += view[last : match.start()]
        out += "".join(map(_escape_char, match.group().decode())).encode()
        last = match.end()
    if out is None:
        return encoded
    out += view[last:]
    return out


def _escape_char(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}"


def make_console(*, color: bool) -> Any:
    """A rich console that writes into a buffer at the output width (imported lazily: tables only).

    It never wraps or crops what it prints: tables and paragraphs are laid out before they reach it.
    """
    from rich.console import Console

    return Console(
        file=io.StringIO(),
        width=output_width(),
        force_terminal=color,
        color_system="standard" if color else None,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,
    )


def make_table(*headers: str, prose: Iterable[str] | None = None, upper: bool = True) -> Table:
    """A kubectl-style table: upper-case headers, no borders; text cells are cleaned of terminal control.

    `prose` names the columns that wrap (default: message, title, description, reason, warnings, short);
    the others never do.
    """
    return Table(make_columns(headers, prose, upper), clean=clean_text)


def paragraph(console: Any, text: str, indent: str = "") -> None:
    """Print prose wrapped at spaces to the console's width (never splitting a token), indented."""
    width = console.width - len(indent)
    for line in wrap(clean_text(text), width):
        console.print(indent + line if line else "")


def styled(text: str, style: str, color: bool) -> Any:
    """Text with a style that only shows on a terminal."""
    from rich.text import Text

    return Text(text, style=style if color else "")


def console_text(console: Any) -> str:
    """What was printed to a buffered console, without trailing padding; without colour, nothing in it can
    be terminal control (with colour, the cells were cleaned on the way in)."""
    text = "".join(line.rstrip() + "\n" for line in str(console.file.getvalue()).splitlines())
    return text if console.color_system else clean_text(text)


def fix_block(console: Any, check_id: str, status: Status, title: str, fix: str, color: bool) -> None:
    """A check's id, status and title, then its fix indented (fixes hold commands to copy: never wrapped)."""
    from rich.text import Text

    label = styled(status.value.upper(), STATUS_STYLE[status], color)
    console.print(Text.assemble((check_id, "bold" if color else ""), " ", label, f"  {clean_line(title)}"))
    console.print(Text(textwrap.indent(clean_text(fix), "  ")))
