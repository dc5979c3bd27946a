"""Render a workload report: a table for people, JSON or YAML for machines, SARIF 2.1.0 for code scanning.

The table lists the findings that need attention (fail, warn, error) per object, then the fix under each;
`wide` lists every check, pass and skip included. JSON and YAML hold every finding. SARIF holds the findings
that need attention, each located at the file, line and column of the field it is about.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from nimdoctor import __version__
from nimdoctor.catalog import Catalog
from nimdoctor.render_base import (
    STATUS_STYLE,
    console_text,
    make_console,
    make_table,
    render_data,
    styled,
)
from nimdoctor.report import Severity, Status
from nimdoctor.workloads.report import ObjectInfo, WorkloadFinding, WorkloadReport

FORMATS = ("table", "wide", "json", "yaml", "sarif")
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
ATTENTION = (Status.FAIL, Status.WARN, Status.ERROR)
# C0 and C1 control characters except newline and tab: never sent to a terminal from untrusted input.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """`text` with terminal control characters shown as escapes (`\\x1b`) instead of acted on."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def render_workloads(report: WorkloadReport, fmt: str, catalog: Catalog, *, color: bool = False) -> str:
    """The report in one of `FORMATS`."""
    if fmt in ("json", "yaml"):
        return render_data(report, fmt)
    if fmt == "sarif":
        return json.dumps(sarif(report, catalog), indent=2) + "\n"
    return render_table(report, wide=fmt == "wide", color=color)


def object_text(obj: ObjectInfo) -> str:
    """`NIMService ns/name`, with the pipeline a service belongs to."""
    where = f"{obj.namespace}/{obj.name}" if obj.namespace else obj.name
    pipeline = f" (service of NIMPipeline {obj.pipeline})" if isinstance(obj.pipeline, str) else ""
    return f"{obj.kind} {where}{pipeline}"


def _where(finding: WorkloadFinding) -> str:
    if isinstance(finding.line, int):
        return str(finding.line)
    return finding.field if isinstance(finding.field, str) else ""


def status_label(finding: WorkloadFinding, color: bool) -> Any:
    """The status as the table shows it: a warning of an info check is advice, labelled INFO."""
    if finding.status is Status.WARN and finding.severity is Severity.INFO:
        return styled("INFO", "dim", color)
    return styled(finding.status.value.upper(), STATUS_STYLE[finding.status], color)


def render_table(report: WorkloadReport, *, wide: bool, color: bool) -> str:
    """Per object, its findings (those that need attention; all of them when `wide`), then the fixes."""
    from rich.text import Text

    console = make_console(color=color)
    groups: dict[tuple[str, str], list[WorkloadFinding]] = {}
    for f in report.findings:
        if wide or f.status in ATTENTION:
            place = f.file if isinstance(f.file, str) else ""
            groups.setdefault((object_text(f.object), place), []).append(f)
    where_header = "line" if report.source == "lint" else "field"
    for (obj, place), findings in groups.items():
        console.print(Text(clean(f"{obj}   {place}" if place else obj), style="bold" if color else ""))
        headers = ("check", "status", "severity", where_header, "message") if wide else ("check", "status")
        table = make_table(*(headers if wide else (*headers, where_header, "message")))
        for f in findings:
            status = status_label(f, color)
            cells = [f.id, status, f.severity.value] if wide else [f.id, status]
            table.add_row(*cells, clean(_where(f)), clean(f.message))
        console.print(table)
        console.print()
    for f in report.findings:
        if f.fix and f.status in ATTENTION:
            label = status_label(f, color)
            head = Text.assemble(
                (f.id, "bold" if color else ""), " ", label, "  ", clean(object_text(f.object))
            )
            console.print(head)
            console.print(Text(clean("\n".join("  " + line for line in f.fix.splitlines()))), soft_wrap=True)
            console.print()
    console.print(Text(clean(summary(report))))
    for note in report.notes:
        console.print(Text(clean(f"note: {note}")))
    return console_text(console)


def summary(report: WorkloadReport) -> str:
    """One line: how many objects, and findings by status."""
    counts = ", ".join(f"{n} {status}" for status, n in report.counts.items() if n)
    where = (
        "in " + ", ".join(report.scope)
        if report.source == "lint"
        else "in namespace(s) " + ", ".join(report.scope)
    )
    return f"{report.objects} NIM object(s) {where}: {counts or 'nothing to check'}"


# --- SARIF ------------------------------------------------------------------------------------------------


def _level(finding: WorkloadFinding) -> str:
    if finding.status is Status.FAIL:
        return "error"
    if finding.severity is Severity.INFO:
        return "note"
    return "warning"


def artifact_uri(file: str) -> str:
    """A file name as a SARIF artifact URI: relative paths stay relative (POSIX, percent-encoded)."""
    path = Path(file)
    if path.is_absolute():
        return path.as_uri()
    return quote(str(PurePosixPath(*path.parts)))


def sarif(report: WorkloadReport, catalog: Catalog) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run: the workload checks as rules, findings needing attention as results."""
    checks = [c for c in catalog.checks.values() if c.area == "workload"]
    index = {c.id: i for i, c in enumerate(checks)}
    rules = [
        {
            "id": c.id,
            "name": re.sub(r"[^A-Za-z0-9]+", " ", c.title).title().replace(" ", ""),
            "shortDescription": {"text": c.short},
            "fullDescription": {"text": c.title},
            "help": {"text": f"{c.why}\n\nFix:\n{c.fix.strip()}\n\nRunbook: {c.runbook}"},
            "defaultConfiguration": {"level": "note" if c.severity is Severity.INFO else "error"},
            "properties": {"severity": c.severity.value, "runbook": c.runbook},
        }
        for c in checks
    ]
    results = []
    for f in report.findings:
        if f.status not in ATTENTION or f.id not in index:
            continue
        location: dict[str, Any] = {
            "logicalLocations": [
                {
                    "fullyQualifiedName": object_text(f.object),
                    "name": f.object.name,
                    "kind": "object",
                }
            ]
        }
        if isinstance(f.file, str) and f.file != "<stdin>" and isinstance(f.line, int):
            region = {"startLine": f.line}
            if isinstance(f.column, int):
                region["startColumn"] = f.column
            location["physicalLocation"] = {
                "artifactLocation": {"uri": artifact_uri(f.file)},
                "region": region,
            }
        properties: dict[str, Any] = {"status": f.status.value, "severity": f.severity.value}
        if isinstance(f.field, str):
            properties["field"] = f.field
        if f.fix:
            properties["fix"] = f.fix
        results.append(
            {
                "ruleId": f.id,
                "ruleIndex": index[f.id],
                "level": _level(f),
                "message": {"text": f"{f.message} ({object_text(f.object)})"},
                "locations": [location],
                "properties": properties,
            }
        )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "nimdoctor",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
