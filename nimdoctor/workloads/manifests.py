"""Read manifests for `nimdoctor lint`: files, directories and stdin, every YAML document with the position of
every field, so that a finding can name the file and line of the field it is about.

PyYAML's composer keeps each node's start mark; the documents are built from the same nodes, so positions and
values cannot disagree. Reads are bounded; anything unreadable or not YAML is a `ManifestError` that names the
file and, for bad YAML, the line and column.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from nimdoctor import files
from nimdoctor.workloads.model import FieldPath

MAX_BYTES = 16 * 2**20  # per input: far above any manifest, far below trouble
STDIN = "-"
_SUFFIXES = (".yaml", ".yml")
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ManifestError(Exception):
    """An input that cannot be read as YAML: says where."""

    def __init__(self, file: str, message: str, line: int | None = None, column: int | None = None) -> None:
        where = file + (f":{line}" if line else "") + (f":{column}" if line and column else "")
        super().__init__(f"{where}: {message}")
        self.file = file
        self.line = line
        self.column = column


@dataclass(frozen=True)
class Document:
    """One YAML document of an input, with the 1-based (line, column) of every key and list item."""

    file: str
    index: int  # the document's number within its file, from 0
    data: Any
    positions: Mapping[FieldPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: FieldPath) -> tuple[int, int]:
        """Where `path` is: the field itself, else its nearest ancestor that exists (a missing field)."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return (1, 1)


def expand(paths: Iterable[str]) -> list[str]:
    """Files to read: each file as given, each directory's *.yaml and *.yml files (recursively, sorted)."""
    files: list[str] = []
    for raw in paths:
        if raw == STDIN:
            files.append(STDIN)
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
            files.extend(str(p) for p in found)
        elif path.exists():
            files.append(raw)
        else:
            raise ManifestError(raw, "no such file or directory")
    return files


def read_text(name: str, stdin: IO[str] | None = None) -> str:
    """An input's text, at most `MAX_BYTES` of it; `-` reads stdin."""
    try:
        if name == STDIN:
            if stdin is None:
                raise ManifestError("<stdin>", "no standard input")
            text = stdin.read(MAX_BYTES + 1)
        else:
            # The project's one bounded reader: a FIFO or device named here is an error, never a hang.
            text = files.read_text_file(name, MAX_BYTES)
    except files.FileTooLargeError:
        raise ManifestError(display_name(name), f"larger than {MAX_BYTES // 2**20} MiB") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(display_name(name), f"cannot read: {exc}") from exc
    if len(text) > MAX_BYTES:
        raise ManifestError(display_name(name), f"larger than {MAX_BYTES // 2**20} MiB")
    return text


def display_name(name: str) -> str:
    """How an input is named in output: `<stdin>` for `-`."""
    return "<stdin>" if name == STDIN else name


def parse(name: str, text: str) -> list[Document]:
    """Every document of a YAML stream, with positions; `ManifestError` with line and column when invalid."""
    loader = _Loader(text)
    documents: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            data = loader.construct_document(node)
            positions: dict[FieldPath, tuple[int, int]] = {}
            _index(node, (), positions, set())
            documents.append(Document(display_name(name), len(documents), data, positions))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        raise ManifestError(display_name(name), f"invalid YAML: {problem}", line, column) from exc
    except yaml.YAMLError as exc:
        raise ManifestError(display_name(name), f"invalid YAML: {exc}") from exc
    finally:
        loader.dispose()
    return documents


def _index(node: yaml.Node, path: FieldPath, out: dict[FieldPath, tuple[int, int]], seen: set[int]) -> None:
    out.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if id(node) in seen:  # an alias: its fields are indexed where the anchor is
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                child = (*path, key.value)
                out.setdefault(child, (key.start_mark.line + 1, key.start_mark.column + 1))
                _index(value, child, out, seen)
    elif isinstance(node, yaml.SequenceNode):
        for number, item in enumerate(node.value):
            _index(item, (*path, number), out, seen)


def load(paths: Iterable[str], stdin: IO[str] | None = None) -> Iterator[Document]:
    """Every document of every input, in order."""
    for name in expand(paths):
        yield from parse(name, read_text(name, stdin))
