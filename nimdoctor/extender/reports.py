"""`--reports PATH`: node reports from files instead of a cluster, for tests, demos and what-if runs.

PATH is a file or a directory; in a directory only `*.json`, `*.yaml` and `*.yml` files are read (not
recursively), in name order. A file holds `nimdoctor run -o json` Report documents or NodeReport objects:
one JSON document, a YAML stream of them, or a list (`kind: List`, as `kubectl get nodereports -o yaml`
prints). Anything unreadable is an error naming the file; nothing is skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

from nimdoctor import files, yamlio
from nimdoctor.cluster.nodereport import NodeRecord, NodeReportError, parse_node_document

SUFFIXES = (".json", ".yaml", ".yml")
# Bounded reads: a report is tens of kilobytes, a list of 5,000 a few hundred megabytes at most.
MAX_FILE_BYTES = 512 * 2**20
_T = TypeVar("_T")


class ReportFileError(ValueError):
    """A report file or directory that cannot be used."""


def report_files(path: Path) -> list[Path]:
    """The files `--reports PATH` reads."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
    if path.is_file():
        return [path]
    raise ReportFileError(f"--reports {path}: no such file or directory")


def _documents(path: Path) -> list[Any]:
    try:
        text = files.read_text_file(path, MAX_FILE_BYTES)
    except files.FileTooLargeError:
        raise ReportFileError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportFileError(f"{path}: cannot read: {exc}") from exc
    try:
        if path.suffix == ".json":
            return [msgspec.json.decode(text)]  # twice as fast as json's: 5,000 reports are 200 MB
        return [doc for doc in yamlio.safe_load_all(text) if doc is not None]
    except (ValueError, yaml.YAMLError) as exc:
        raise ReportFileError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from exc


def _flatten(doc: Any) -> Iterator[Any]:
    """A document, or the items of a list document."""
    if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and "items" in doc:
        items = doc["items"]
        if not isinstance(items, list):
            raise NodeReportError("items must be a list")
        yield from items
    else:
        yield doc


def load_reports(path: Path) -> list[NodeRecord]:
    """Every report under `path`; raises `ReportFileError` for an unreadable file or document, or for a node
    reported twice."""
    return [record for record, _ in load_reports_with(path, lambda _doc: None)]


def load_reports_with(path: Path, extract: Callable[[Any], _T]) -> list[tuple[NodeRecord, _T]]:
    """`load_reports`, each record with what `extract` takes from its document (a reader that needs more
    than a record, e.g. capacity's GPU layout, reads it here, while the document is at hand)."""
    records: dict[str, tuple[NodeRecord, _T, Path]] = {}
    for file in report_files(path):
        for number, doc in enumerate(_documents(file), start=1):
            try:
                found = [(parse_node_document(item), item) for item in _flatten(doc)]
            except NodeReportError as exc:
                raise ReportFileError(f"{file}: document {number}: {exc}") from exc
            for record, item in found:
                if record.node in records:
                    raise ReportFileError(
                        f"{file}: node {record.node!r} is already reported in {records[record.node][2]}"
                    )
                records[record.node] = (record, extract(item), file)
    return [(record, extracted) for record, extracted, _ in records.values()]
