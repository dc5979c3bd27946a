"""`nimdoctor plan --model NAME`: where a model fits, across built-in or described machines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from msgspec import UNSET

from nimdoctor.catalog import Catalog
from nimdoctor.cli.model_options import model_options, model_request
from nimdoctor.cli.options import InputError, catalog_or_exit, checks_dir_option, output_option
from nimdoctor.diagnose import diagnose
from nimdoctor.placement import ModelRequest, RequirementError
from nimdoctor.probes.machine import Machine, MachineError, builtin_names, load_builtin, load_machine_file
from nimdoctor.render import console_text, make_console, make_table, render_data, styled
from nimdoctor.report import Placement, Report, Status
from nimdoctor.simulate import machine_sources


def plan_row(machine: Machine, request: ModelRequest, catalog: Catalog) -> dict[str, Any]:
    """One machine's answer: its GPUs, whether the model fits, at which TP, and the first reason."""
    report: Report = diagnose(machine_sources(machine), catalog, node=machine.name, model=request)
    assert isinstance(report.placement, Placement)
    placement = report.placement
    caps = report.capabilities
    gpus = f"{caps.gpu_count}x {caps.gpu_product}" if caps.gpu_product is not UNSET else "<unknown>"
    first = next((r for r in placement.reasons if r.status is not Status.WARN), None)
    warnings = [r.short for r in placement.reasons if r.status is Status.WARN]
    requirement = placement.requirement
    return {
        "machine": machine.name,
        "gpus": gpus,
        "fits": placement.fits,
        "tensorParallel": requirement.tensor_parallel,
        "pipelineParallel": requirement.pipeline_parallel,
        "precision": requirement.precision,
        "precisionReason": requirement.precision_reason,
        "gpuMemoryNeedBytes": requirement.gpu_memory_need_bytes,
        "reason": first.short if first else None,
        "fix": first.fix if first else None,
        "warnings": warnings,
    }


def plan_exit_code(rows: list[dict[str, Any]]) -> int:
    """0 when the model fits a machine; else 3 when a machine could not be judged; else 1."""
    fits = [row["fits"] for row in rows]
    if True in fits:
        return 0
    return 3 if None in fits else 1


@click.command("plan")
@model_options(required=True)
@click.option(
    "--machine",
    "machine_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="A machine description to plan for (repeatable); default: every built-in machine.",
)
@checks_dir_option
@output_option
def plan_cmd(
    model: str,
    precision: str | None,
    tp: int | None,
    pp: int | None,
    gpus: int | None,
    max_model_len: int | None,
    mig: str | None,
    machine_files: tuple[Path, ...],
    checks_dir: Path | None,
    output: str,
) -> None:
    """Where does a NIM model fit, at which TP, and why not elsewhere.

    Exit codes: 0 the model fits at least one machine; 1 it fits none; 3 it fits none and some machine
    could not be judged (GPU memory or model unknown: shown as "unknown"); 2 usage or input error.
    """
    catalog = catalog_or_exit(checks_dir)
    request = model_request(catalog, model, precision, tp, pp, gpus, max_model_len, mig)
    assert request is not None  # --model is required
    try:
        machines = [load_machine_file(p) for p in machine_files] or [load_builtin(n) for n in builtin_names()]
        rows = [plan_row(m, request, catalog) for m in machines]
    except (MachineError, RequirementError) as exc:
        raise InputError(str(exc)) from exc
    if output in ("json", "yaml"):
        click.echo(render_data({"model": model, "machines": rows}, output), nl=False)
    else:
        click.echo(_table(rows, wide=output == "wide", color=sys.stdout.isatty()), nl=False)
    sys.exit(plan_exit_code(rows))


_FITS: dict[bool | None, tuple[str, str]] = {
    True: ("yes", "green"),
    False: ("no", "bold red"),
    None: ("unknown", "magenta"),
}


def _table(rows: list[dict[str, Any]], *, wide: bool, color: bool) -> str:
    console = make_console(wide=wide, color=color)
    headers = ("machine", "gpus", "fits", "tp", "prec", "reason") + (("warnings",) if wide else ())
    table = make_table(*headers)
    for row in rows:
        word, style = _FITS[row["fits"]]
        layout = str(row["tensorParallel"]) + (
            f"x{row['pipelineParallel']}" if row["pipelineParallel"] > 1 else ""
        )
        # A machine that fits shows its first caution, if any, where the others show why not.
        reason = row["reason"] or (row["warnings"][0] if row["warnings"] else "-")
        cells = [row["machine"], row["gpus"], styled(word, style, color), layout, row["precision"], reason]
        if wide:
            cells.append("; ".join(row["warnings"]) or "-")
        table.add_row(*cells)
    console.print(table)
    return console_text(console)
