"""Render a Report as a table for people, or as JSON/YAML for machines. Renderers never re-derive facts."""

from __future__ import annotations

import io
import json
import textwrap
from typing import Any

import yaml

from nimdoctor.report import Placement, Report, Requirement, Status, to_builtins
from nimdoctor.sanitize import clean_line, clean_text, plain_data

FORMATS = ("table", "wide", "json", "yaml")
STATUS_STYLE = {
    Status.PASS: "green",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.ERROR: "magenta",
    Status.SKIP: "dim",
}
TABLE_WIDTH = 80


def render_data(data: Any, fmt: str) -> str:
    """Plain data as JSON or YAML text (always valid: no NaN, no unencodable characters)."""
    data = plain_data(data)
    if fmt == "json":
        return json.dumps(data, indent=2, allow_nan=False)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def render(report: Report, fmt: str, *, color: bool = False) -> str:
    """The report in one of `FORMATS`."""
    if fmt in ("json", "yaml"):
        return render_data(to_builtins(report), fmt)
    return render_table(report, wide=fmt == "wide", color=color)


def make_console(*, wide: bool, color: bool) -> Any:
    """A rich console that writes into a buffer (imported lazily: tables only)."""
    from rich.console import Console

    return Console(
        file=io.StringIO(),
        width=200 if wide else TABLE_WIDTH,
        force_terminal=color,
        color_system="standard" if color else None,
        highlight=False,
        soft_wrap=False,
    )


def make_table(*headers: str) -> Any:
    """A kubectl-style table: upper-case headers, no borders; text cells are cleaned of terminal control."""
    from rich.table import Table

    class CleanTable(Table):
        def add_row(self, *cells: Any, **kwargs: Any) -> None:
            super().add_row(*(clean_text(c) if isinstance(c, str) else c for c in cells), **kwargs)

    table = CleanTable(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header.upper(), overflow="fold")
    return table


def styled(text: str, style: str, color: bool) -> Any:
    """Text with a style that only shows on a terminal."""
    from rich.text import Text

    return Text(text, style=style if color else "")


def render_table(report: Report, *, wide: bool, color: bool) -> str:
    """Checks in a table, then the message and fix under each check that did not pass."""
    from rich.text import Text

    console = make_console(wide=wide, color=color)
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
            _fix_block(console, f.id, f.status, f.title, f.fix, color)
    if isinstance(report.placement, Placement):
        _placement(console, report.placement, wide=wide, color=color)
    return console_text(console)


def gb(value: int | None) -> str:
    """Bytes as decimal GB, as model sizes are quoted."""
    return "<unknown>" if value is None else f"{value / 1e9:.1f} GB"


def requirement_lines(req: Requirement) -> list[str]:
    """What the model needs, in three short lines: layout, precision and why, memory per GPU."""
    size = "size unknown" if req.params_b is None else f"{req.params_b:g}B params"
    layout = f"TP {req.tensor_parallel}"
    if req.pipeline_parallel > 1:
        nodes = "" if req.single_node else f" over {req.pipeline_parallel} nodes"
        layout += f" x PP {req.pipeline_parallel}{nodes}"
    devices = f"MIG {req.mig_profile} device(s)" if req.mig_profile else "GPU(s)"
    lines = [
        f"{size}, {layout}, {req.gpus} {devices} per pod, NVLink {req.nvlink}",
        f"precision {req.precision}" + (f" ({req.precision_reason})" if req.precision_reason else ""),
    ]
    if req.gpu_memory_need_bytes is not None:
        if req.kv_bytes_per_token is None:
            kv = "KV cache not counted (architecture unknown)"
        elif req.max_context:
            kv = f"KV cache {gb(req.kv_cache_per_gpu_bytes)} ({req.max_context} tokens, {req.context_source})"
        else:
            kv = "no KV cache"
        lines.append(
            f"per GPU: weights {gb(req.weights_per_gpu_bytes)} + {kv} + overhead "
            f"{gb(req.overhead_per_gpu_bytes)} = {gb(req.gpu_memory_need_bytes)}; needs "
            f"{gb(req.min_gpu_memory_bytes)} of GPU memory; cache PVC {gb(req.cache_pvc_bytes)}"
        )
    return lines


_FITS = {True: ("yes", "green"), False: ("no", "bold red"), None: ("unknown", STATUS_STYLE[Status.ERROR])}


def _placement(console: Any, placement: Placement, *, wide: bool, color: bool) -> None:
    from rich.text import Text

    word, style = _FITS[placement.fits]
    fits = styled(word, style, color)
    tried = f"   (tried TP {', '.join(map(str, placement.tried))})" if placement.tried else ""
    console.print()
    console.print(Text.assemble("MODEL ", clean_line(placement.model), "   FITS ", fits, tried))
    for line in requirement_lines(placement.requirement):
        console.print(Text("  " + clean_line(line)))
    if not placement.reasons:
        return
    table = make_table(
        *(("reason", "status", "short", "message") if wide else ("reason", "status", "message"))
    )
    for r in placement.reasons:
        status = styled(r.status.value.upper(), STATUS_STYLE[r.status], color)
        table.add_row(*((r.id, status, r.short, r.message) if wide else (r.id, status, r.message)))
    console.print(table)
    for r in placement.reasons:
        console.print()
        _fix_block(console, r.id, r.status, r.short.removeprefix(r.id).strip(), r.fix, color)


def console_text(console: Any) -> str:
    """What was printed to a buffered console, without rich's trailing padding; without colour, nothing
    in it can be terminal control (with colour, the cells were cleaned on the way in)."""
    text = "".join(line.rstrip() + "\n" for line in str(console.file.getvalue()).splitlines())
    return text if console.color_system else clean_text(text)


def _fix_block(console: Any, check_id: str, status: Status, title: str, fix: str, color: bool) -> None:
    from rich.text import Text

    label = styled(status.value.upper(), STATUS_STYLE[status], color)
    console.print(Text.assemble((check_id, "bold" if color else ""), " ", label, f"  {clean_line(title)}"))
    # Fixes hold commands to copy: never wrapped.
    console.print(Text(textwrap.indent(clean_text(fix), "  ")), soft_wrap=True)
