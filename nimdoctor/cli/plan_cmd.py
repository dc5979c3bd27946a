"""`nimdoctor plan --model NAME`: where a model fits, across built-in or described machines."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from msgspec import UNSET

from nimdoctor.catalog import Catalog
from nimdoctor.cli.model_options import did_you_mean, model_options, model_request
from nimdoctor.cli.options import InputError, catalog_or_exit, checks_dir_option, output_option
from nimdoctor.diagnose import diagnose
from nimdoctor.documents import Plan, PlanMachine
from nimdoctor.placement import ModelRequest, RequirementError, first_failure
from nimdoctor.placement.variants import gpu_memory
from nimdoctor.render_base import console_text, make_console, make_table, render_data, styled
from nimdoctor.render_placement import FITS, memory_need
from nimdoctor.report import Placement, Report, Status
from nimdoctor.simulation.machine import Machine, MachineError, builtin_names, load_builtin, load_machine_file
from nimdoctor.simulation.simulate import machine_sources


def plan_row(machine: Machine, request: ModelRequest, catalog: Catalog) -> PlanMachine:
    """One machine's answer: its GPUs, whether the model fits, at which TP, the first reason it does not,
    and the warnings (a machine that fits may still carry some)."""
    report: Report = diagnose(machine_sources(machine), catalog, node=machine.name, model=request)
    assert isinstance(report.placement, Placement)
    placement = report.placement
    caps = report.capabilities
    first = first_failure(placement.reasons)
    requirement = placement.requirement
    return PlanMachine(
        machine=machine.name,
        gpus=f"{caps.gpu_count}x {caps.gpu_product}" if caps.gpu_product is not UNSET else None,
        fits=placement.fits,
        tensor_parallel=requirement.tensor_parallel,
        pipeline_parallel=requirement.pipeline_parallel,
        precision=requirement.precision,
        precision_reason=requirement.precision_reason,
        engine=requirement.engine,
        engine_reason=requirement.engine_reason,
        served_context=requirement.served_context,
        max_context=requirement.max_context,
        gpu_memory_need_bytes=requirement.gpu_memory_need_bytes,
        min_gpu_memory_bytes=requirement.min_gpu_memory_bytes,
        gpu_memory_bytes=gpu_memory(caps, requirement),
        reason=first.short if first else None,
        fix=first.fix if first else None,
        warnings=[r.short for r in placement.reasons if r.status is Status.WARN],
    )


def plan_exit_code(plan: Plan) -> int:
    """3 when the model's size is unknown (nothing was judged); else 0 when it fits a machine; else 3 when a
    machine could not be judged; else 1."""
    if plan.params_b is None:
        return 3
    fits = [row.fits for row in plan.machines]
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
    nim_version: str | None,
    machine_files: tuple[Path, ...],
    checks_dir: Path | None,
    output: str,
) -> None:
    """Where does a NIM model fit, at which TP, and why not elsewhere.

    The table shows the first reason a machine does not fit under REASON and the cautions that hold even
    where it fits under WARNINGS; -o wide adds the GPU memory needed beside the GPU's own.

    Exit codes: 0 the model fits at least one machine; 1 it fits none; 3 the model's size is unknown, or it
    fits none and some machine could not be judged (GPU memory unknown: shown as "unknown"); 2 usage or
    input error.
    """
    catalog = catalog_or_exit(checks_dir)
    request = model_request(catalog, model, precision, tp, pp, gpus, max_model_len, mig, nim_version)
    assert request is not None  # --model is required
    close = did_you_mean(catalog, model)
    try:
        machines = [load_machine_file(p) for p in machine_files] or [load_builtin(n) for n in builtin_names()]
        requirement = request.requirement(catalog, request.tp)
        plan = Plan(
            model=model,
            resolved_model=requirement.model,
            params_b=requirement.params_b,
            params_source=requirement.params_source,
            did_you_mean=close,
            machines=[plan_row(m, request, catalog) for m in machines],
        )
    except (MachineError, RequirementError) as exc:
        raise InputError(str(exc)) from exc
    if output in ("json", "yaml"):
        click.echo(render_data(plan, output), nl=False)
    else:
        click.echo(_table(plan.machines, wide=output == "wide", color=sys.stdout.isatty()), nl=False)
    sys.exit(plan_exit_code(plan))


def _table(rows: list[PlanMachine], *, wide: bool, color: bool) -> str:
    """MACHINE GPUS FITS TP PREC REASON WARNINGS, checks named by id; then what each id says, one row per
    id (a failure's and a caution's texts together). Wide adds MEMORY: what one GPU needs beside its own."""
    console = make_console(color=color)
    headers = ("machine", "gpus", "fits", "tp", "prec", *(("memory",) if wide else ()), "reason", "warnings")
    table = make_table(*headers, prose=("warnings",))
    said: dict[str, dict[str, None]] = {}  # check id -> its texts, in order: a failure and a caution differ
    for row in rows:
        word, style = FITS[row.fits]
        layout = str(row.tensor_parallel) + (f"x{row.pipeline_parallel}" if row.pipeline_parallel > 1 else "")
        cells = [row.machine, row.gpus or "<unknown>", styled(word, style, color), layout, row.precision]
        if wide:
            cells.append(
                memory_need(
                    row.gpu_memory_need_bytes, row.gpu_memory_bytes, row.served_context, row.max_context
                )
            )
        shorts = ([row.reason] if row.reason else []) + row.warnings
        for short in shorts:
            check, _, text = short.partition(" ")
            said.setdefault(check, {})[text] = None
        reason = row.reason.split(" ", 1)[0] if row.reason else "-"
        table.add_row(*cells, reason, ", ".join(w.split(" ", 1)[0] for w in row.warnings) or "-")
    console.print(table)
    if said:
        legend = make_table("check", "summary", prose=("summary",))
        for check, texts in said.items():
            legend.add_row(check, " / ".join(texts))
        console.print()
        console.print(legend)
    return console_text(console)
