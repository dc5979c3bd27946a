"""systemd unit files read as systemd reads them, for the `LimitNOFILE` a service gets.

The rules follow systemd's own parser (`src/shared/conf-parser.c`, `src/basic/rlimit-util.c`,
`src/shared/dropin.c`, `src/basic/conf-files.c`):
- a line ends at `\\n`, `\\r`, `\\r\\n` (either order) or NUL; a line longer than 1 MiB makes the file
  unparseable;
- a line whose first non-blank character is `#` or `;` is a comment, also between continuation lines;
- the first line that starts with a UTF-8 byte order mark loses it;
- a line ending in an odd number of backslashes continues on the next line (the backslash becomes a space);
  an empty line ends the continuation;
- `[Section]` must end with `]`, else the file is unparseable; keys and values are stripped of blanks; no
  quotes are removed and there are no trailing comments (`LimitNOFILE=65536 # note` is an invalid value);
- `LimitNOFILE=` empty resets to the default; `N`, `soft:hard` and `infinity` set it; a value systemd cannot
  parse, or a soft limit above the hard one, is ignored and the earlier value stays;
- drop-ins are the `*.conf` files of `<unit>.d/` (and of each dashed prefix, `a-.service.d/`, then of
  `service.d/`) in every unit directory, ordered by file name; of two files with one name, the one in the
  directory systemd searches first wins, and a `/dev/null` or empty one masks it.

Where systemd versions differ (a `0x`/`0o` prefix, a leading `+` or zero, a backslash in a value), or where
systemd fails to load a file at all, the configuration is reported as unknown rather than guessed.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass, field

from nimdoctor.files import NotRegularFileError
from nimdoctor.probes.hostfs import HostFS

# The system manager's unit search path, highest precedence first (systemd-analyze unit-paths);
# /lib/systemd/system is searched on hosts that still split /usr.
UNIT_DIRS = (
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/run/systemd/generator.early",
    "/etc/systemd/system",
    "/etc/systemd/system.attached",
    "/run/systemd/system",
    "/run/systemd/system.attached",
    "/run/systemd/generator",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
    "/run/systemd/generator.late",
)
LONG_LINE_MAX = 1 << 20  # systemd's LONG_LINE_MAX
RLIM_INFINITY = (1 << 64) - 1
_COMMENTS = "#;"
_WHITESPACE = " \t\n\r"
_BOM = "\ufeff"
_EOL = "\n\r\0"
_LINE = re.compile(r"[^\n\r\0]*")
_PLAIN = re.compile(r"(?:0|[1-9][0-9]*|infinity)", re.ASCII)
# Numbers that systemd reads through strtoull() in some versions and its own base-prefix parser in others
# (`010` is 8 to one and 10 to the other; `0o10` is 8 or invalid), and backslashes, which newer versions
# unescape: nimdoctor does not guess which systemd the host runs.
_VERSION_DEPENDENT = re.compile(
    r"[ \t]*[+-]?(?:0[xX][0-9A-Fa-f]+|0o[0-7]+|0b[01]+|[0-9]+)|.*\\.*", re.ASCII | re.DOTALL
)


class UnitSyntaxError(ValueError):
    """systemd refuses to load the file (a bad section header, a line too long, bytes that are not UTF-8)."""


class UncertainValueError(ValueError):
    """systemd versions disagree on what this value means."""


@dataclass(frozen=True)
class Assignment:
    """`key=value` in a section, with its line (the first line of a continued one)."""

    section: str
    key: str
    value: str
    line: int


@dataclass(frozen=True)
class Limit:
    """A resource limit as systemd sets it; `None` in a bound is `infinity`."""

    soft: int | None
    hard: int | None


@dataclass
class UnitFiles:
    """The files systemd reads for a unit, in the order it applies them, and what kept it from seeing more."""

    fragment: str | None = None
    dropins: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def split_lines(text: str) -> list[str]:
    """Lines as systemd's `read_line()` splits them: a run of distinct `\\n`, `\\r` (and a NUL) ends one."""
    lines: list[str] = []
    pos, end = 0, len(text)
    while pos < end:
        match = _LINE.match(text, pos)
        assert match is not None  # the pattern matches the empty string
        lines.append(match.group())
        pos = match.end()
        seen: set[str] = set()
        while pos < end and text[pos] in _EOL and text[pos] not in seen:
            seen.add(text[pos])
            pos += 1
            if "\0" in seen:
                break
    return lines


def parse_unit(text: str) -> list[Assignment]:
    """Every assignment of a unit file or drop-in, in order; `UnitSyntaxError` where systemd fails the file.

    `text` carries bytes that are not UTF-8 as surrogate escapes (`surrogateescape`); systemd refuses them.
    """
    assignments: list[Assignment] = []
    section: str | None = None
    continuation: str | None = None
    start = 0
    bom_seen = False
    for number, raw in enumerate(split_lines(text), 1):
        if len(raw) > LONG_LINE_MAX:
            raise UnitSyntaxError(f"line {number} is longer than {LONG_LINE_MAX} characters")
        stripped = raw.lstrip(_WHITESPACE)
        if stripped and stripped[0] in _COMMENTS:
            continue
        line = raw
        if not bom_seen and line.startswith(_BOM):
            line, bom_seen = line[1:], True
        if continuation is None:
            start = number
        current = line if continuation is None else continuation + line
        if len(current) > LONG_LINE_MAX:
            raise UnitSyntaxError(f"continued line {start} is longer than {LONG_LINE_MAX} characters")
        trailing = len(current) - len(current.rstrip("\\"))
        if trailing % 2:
            continuation = current[:-1] + " "
            continue
        continuation = None
        section = _parse_line(current, start, section, assignments)
    if continuation is not None:
        _parse_line(continuation, start, section, assignments)
    return assignments


def _parse_line(line: str, number: int, section: str | None, out: list[Assignment]) -> str | None:
    """Apply one logical line; returns the section in force after it."""
    line = line.strip(_WHITESPACE)
    if not line:
        return section
    if any(0xD800 <= ord(c) <= 0xDFFF for c in line):
        raise UnitSyntaxError(f"line {number} is not valid UTF-8")
    if line.startswith("["):
        if not line.endswith("]"):
            raise UnitSyntaxError(f"line {number}: invalid section header {line[:60]!r}")
        return line[1:-1]
    key, equals, value = line.partition("=")
    if section is not None and equals and key.strip(_WHITESPACE):
        out.append(Assignment(section, key.strip(_WHITESPACE), value.strip(_WHITESPACE), number))
    return section


def parse_rlimit(value: str) -> Limit | None:
    """A `Limit*=` value as systemd's `config_parse_rlimit` reads it; `None` for an empty reset.

    `ValueError` for a value systemd ignores, `UncertainValueError` for one its versions read differently.
    """
    if not value:
        return None
    if value == "infinity":
        return Limit(None, None)
    soft_text, colon, hard_text = value.partition(":")
    soft = _rlimit_bound(soft_text)
    hard = _rlimit_bound(hard_text) if colon else soft
    if (RLIM_INFINITY if soft is None else soft) > (RLIM_INFINITY if hard is None else hard):
        raise ValueError(f"soft limit above the hard limit in {value!r}")
    return Limit(soft, hard)


def _rlimit_bound(text: str) -> int | None:
    if _PLAIN.fullmatch(text):
        if text == "infinity":
            return None
        number = int(text)
        if number >= RLIM_INFINITY:
            raise ValueError(f"{text} is out of range")
        return number
    if _VERSION_DEPENDENT.fullmatch(text):
        raise UncertainValueError(f"{text!r} is not a plain number; systemd versions read it differently")
    raise ValueError(f"{text!r} is neither a number nor 'infinity'")


def prefix_names(unit: str) -> list[str]:
    """Dashed prefixes systemd also reads drop-ins for: `a-b-c.service` -> `a-b-.service`, `a-.service`."""
    stem, _, suffix = unit.rpartition(".")
    names: list[str] = []
    prefix = stem
    while True:
        chopped = False
        while True:
            dash = prefix.rfind("-")
            if dash <= 0:
                return names
            if dash + 1 < len(prefix) or chopped:
                prefix = prefix[: dash + 1]
                break
            prefix, chopped = prefix[:dash], True
        names.append(f"{prefix}.{suffix}")


def find_unit_files(fs: HostFS, unit: str) -> UnitFiles:
    """The unit file and drop-ins systemd loads for `unit`, in the order it applies them."""
    found = UnitFiles()
    for directory in UNIT_DIRS:
        names = _listdir(fs, directory, found)
        if unit in names:
            found.fragment = f"{directory}/{unit}"
            break
    suffix = unit.rpartition(".")[2]
    dropin_dirs = [f"{d}/{name}.d" for d in UNIT_DIRS for name in (unit, *prefix_names(unit))]
    dropin_dirs += [f"{d}/{suffix}.d" for d in UNIT_DIRS]
    by_name: dict[str, str] = {}
    for directory in dropin_dirs:
        for name in _listdir(fs, directory, found):
            if name.endswith(".conf"):
                by_name.setdefault(name, f"{directory}/{name}")
    found.dropins = [by_name[name] for name in sorted(by_name, key=os.fsencode)]
    return found


def _listdir(fs: HostFS, directory: str, found: UnitFiles) -> list[str]:
    try:
        return fs.listdir(directory)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            found.errors.append(f"{fs.describe(directory)}: cannot list: {exc.strerror or exc}")
        return []


def read_unit(fs: HostFS, path: str) -> list[Assignment] | None:
    """A unit file's assignments; `None` when it is `/dev/null` or empty (a mask).

    `OSError` when it cannot be read, `UnitSyntaxError` when systemd would fail to load it.
    """
    try:
        data = fs.read_bytes(path)
    except NotRegularFileError as exc:
        if exc.null_device:
            return None
        raise
    if not data:
        return None
    return parse_unit(data.decode("utf-8", "surrogateescape"))
