"""`nimdoctor machine list | show NAME | import --topo FILE`: the descriptions `--simulate` runs on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import click
from click.core import ParameterSource

from nimdoctor import files
from nimdoctor.cli.completion import machines
from nimdoctor.cli.options import InputError, non_empty, output_option
from nimdoctor.documents import MachineList, MachineSummary
from nimdoctor.render_base import console_text, make_console, make_table, paragraph, render_data
from nimdoctor.sanitize import clean_line
from nimdoctor.simulation.machine import (
    MachineError,
    MachineSpec,
    builtin_names,
    load_builtin,
    to_yaml,
    unmeasured,
)
from nimdoctor.simulation.machine_import import MachineImportError, import_machine
from nimdoctor.units import gib

_FILE = click.Path(path_type=Path, dir_okay=False)
# nvidia-smi captures are kilobytes to a few MiB (-q of 64 GPUs); anything larger is not one.
MAX_CAPTURE_BYTES = 8 * files.MiB


@click.group("machine")
def machine_group() -> None:
    """Built-in and imported machine descriptions, for `run --simulate NAME` and `--machine FILE`."""


@machine_group.command("list")
@output_option
def list_cmd(output: str) -> None:
    """List the built-in machines (-o wide adds the GPU model and virtualization)."""
    try:
        specs = [load_builtin(name).spec for name in builtin_names()]
    except MachineError as exc:
        raise InputError(f"broken built-in machine: {exc}") from exc
    items = [
        MachineSummary(
            name=s.metadata.name,
            gpus=len(s.gpus),
            gpu_models=_models(s),
            virtualization=s.virtualization.value,
            description=s.metadata.description,
        )
        for s in specs
    ]
    if output in ("json", "yaml"):
        click.echo(render_data(MachineList(items=items), output), nl=False)
        return
    wide = output == "wide"
    console = make_console(color=False)
    headers = (
        ("name", "gpus", "gpu-model", "virtualization", "description")
        if wide
        else ("name", "gpus", "description")
    )
    table = make_table(*headers)
    for m in items:
        cells = (m.name, str(m.gpus), m.gpu_models, m.virtualization) if wide else (m.name, str(m.gpus))
        table.add_row(*cells, m.description)
    console.print(table)
    click.echo(console_text(console), nl=False)


@machine_group.command("show")
@click.argument("name", shell_complete=machines)
@output_option
def show_cmd(name: str, output: str) -> None:
    """Show a built-in machine: its GPUs as a table, or its description with -o yaml (a file to start your
    own from) or -o json. -o wide adds compute capability, PCIe switches and fabric."""
    try:
        machine = load_builtin(name)
    except MachineError as exc:
        raise InputError(str(exc)) from exc
    _print(machine.spec, (), output)


@machine_group.command("import")
@click.option("--topo", "topo", type=_FILE, required=True, help="Output of `nvidia-smi topo -m`.")
@click.option("--smi-q", "smi_q", type=_FILE, help="Output of `nvidia-smi -q` (GPU model, memory, vGPU).")
@click.option(
    "--gpu",
    "gpu",
    metavar="NAME",
    callback=non_empty,
    help="GPU product name, e.g. 'NVIDIA L40S' (or --smi-q).",
)
@click.option("--name", "name", callback=non_empty, help="Machine name; default the --topo file's name.")
@click.option("--to", "to", type=_FILE, help="Write the description (YAML) to this file instead of stdout.")
@output_option
@click.pass_context
def import_cmd(
    ctx: click.Context,
    topo: Path,
    smi_q: Path | None,
    gpu: str | None,
    name: str | None,
    to: Path | None,
    output: str,
) -> None:
    """Turn a real node's `nvidia-smi topo -m` (and `-q`, or a GPU name) into a machine description.

    Check "will my model fit on this box" before buying or building it:
    `nimdoctor run --machine FILE --model M`. Topology alone gives GPUs of unknown model; what the
    captures do not show (the driver without -q, containerd's open-file limits) stays unknown, and the
    checks that need it say skip. Prints the GPUs as a table; -o yaml or --to FILE gives the description.
    """
    if smi_q is not None and gpu is not None:
        raise InputError("give --smi-q or --gpu, not both")
    if to is not None and ctx.get_parameter_source("output") is ParameterSource.COMMANDLINE:
        raise InputError("--to writes the description as YAML: give --to or -o, not both")
    try:
        imported = import_machine(
            _read(topo, "--topo"),
            smi_q_text=_read(smi_q, "--smi-q") if smi_q else None,
            gpu_name=gpu,
            name=name or topo.stem,
            topo_label=str(topo),
            smi_q_label=str(smi_q),
        )
    except MachineImportError as exc:
        raise InputError(str(exc)) from exc
    if to is None:
        if output == "yaml":  # with the notes, as comments
            click.echo(imported.to_yaml(), nl=False)
        else:
            _print(imported.spec, imported.notes, output)
        return
    try:
        to.write_text(imported.to_yaml(), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--to {to}: cannot write: {exc}") from exc
    click.echo(clean_line(f"wrote {to} ({len(imported.spec.gpus)} GPUs)"), err=True)


def _print(spec: MachineSpec, notes: Sequence[str], output: str) -> None:
    if output == "json":
        click.echo(render_data(spec, output), nl=False)
    elif output == "yaml":
        click.echo(to_yaml(spec), nl=False)
    else:
        click.echo(_machine_table(spec, notes, wide=output == "wide"), nl=False)


def _machine_table(spec: MachineSpec, notes: Sequence[str], *, wide: bool) -> str:
    """The machine's name and what nimdoctor does not know of it, then one row per GPU, then the notes."""
    console = make_console(color=False)
    gpus, mode = len(spec.gpus), spec.virtualization.value
    console.print(clean_line(f"MACHINE {spec.metadata.name}   GPUS {gpus}   VIRTUALIZATION {mode}"))
    if spec.metadata.description:
        paragraph(console, spec.metadata.description)
    for why in unmeasured(spec).values():
        paragraph(console, f"unknown: {why}")
    console.print()
    headers = ["gpu", "name", "memory", "bus-id", "numa", "nvlinks"]
    if wide:
        headers += ["cc", "pcie", "fabric"]
    table = make_table(*headers, prose=())
    for gpu in spec.gpus:
        links = sum(link.count for link in gpu.nvlink.links) if gpu.nvlink else 0
        cells = [
            f"GPU{gpu.index}",
            gpu.name,
            "<unknown>" if gpu.memory is None else gib(gpu.memory.total_mib * 2**20),
            gpu.bus_id,
            str(gpu.pcie.numa),
            str(links) if links else "none",
        ]
        if wide:
            cells += [
                gpu.compute_capability or "<unknown>",
                "/".join(gpu.pcie.switches) or "-",
                gpu.fabric.state if gpu.fabric else "-",
            ]
        table.add_row(*cells)
    console.print(table)
    if notes:
        console.print()
        for note in notes:
            paragraph(console, f"note: {note}")
    return console_text(console)


def _read(path: Path, option: str) -> str:
    try:
        return files.read_text_file(path, MAX_CAPTURE_BYTES)
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{option} {path}: cannot read: not UTF-8 (byte {exc.start})") from exc


def _models(spec: MachineSpec) -> str:
    counts = Counter(g.name for g in spec.gpus)
    return ", ".join(f"{n}x {model}" for model, n in counts.items()) or "-"
