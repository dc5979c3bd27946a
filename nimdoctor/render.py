"""Render a node's Report as a table for people, or as JSON/YAML for machines; never re-deriving facts."""

from __future__ import annotations

from nimdoctor.render_base import (
    STATUS_STYLE,
    console_text,
    fix_block,
    make_console,
    make_table,
    render_data,
    styled,
)
from nimdoctor.render_placement import placement_section
from nimdoctor.report import Placement, Report
from nimdoctor.sanitize import clean_line


def render(report: Report, fmt: str, *, color: bool = False) -> str:
    """The report in one of `FORMATS`."""
    if fmt in ("json", "yaml"):
        return render_data(report, fmt)
    return render_table(report, wide=fmt == "wide", color=color)


def render_table(report: Report, *, wide: bool, color: bool) -> str:
    """Checks in a table, then the message and fix under each check that did not pass.

    `wide` adds the SEVERITY and TITLE columns.
    """
    from rich.text import Text

    console = make_console(color=color)
    ready = styled("yes" if report.ready else "no", "green" if report.ready else "bold red", color)
    header = Text.assemble("NODE ", clean_line(report.node), "   READY ", ready)
    if isinstance(report.simulated, str):
        header.append(f"   SIMULATED {clean_line(report.simulated)}")
    console.print(header)
    console.print()
    headers = ("check", "status", "severity", "title", "message") if wide else ("check", "status", "message")
    table = make_table(*headers)
    for f in report.findings:
        status = styled(f.status.value.upper(), STATUS_STYLE[f.status], color)
        if wide:
            table.add_row(f.id, status, f.severity.value, f.title, f.message)
        else:
            table.add_row(f.id, status, f.message)
    console.print(table)
    for f in report.findings:
        if f.fix:
            console.print()
            fix_block(console, f.id, f.status, f.title, f.fix, color)
    if isinstance(report.placement, Placement):
        placement_section(console, report.placement, report.capabilities, wide=wide, color=color)
    return console_text(console)
