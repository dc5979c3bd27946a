"""`nimdoctor machine list | show NAME | import --topo FILE`: the descriptions `--simulate` runs on."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import click

from nimdoctor import files
from nimdoctor.cli.options import InputError, output_option
from nimdoctor.probes.machine import MachineError, MachineSpec, builtin_names, load_builtin, to_yaml
from nimdoctor.probes.machine_import import MachineImportError, import_machine
from nimdoctor.render import console_text, make_console, make_table, render_data
from nimdoctor.sanitize import clean_line

_FILE = click.Path(path_type=Path, dir_okay=False)
# nvidia-smi captures are kilobytes to a few MiB (-q of 64 GPUs); anything larger is not one.
MAX_CAPTURE_BYTES = 8 * files.MiB
# Table columns (keys of `_summary`); `-o wide` adds the GPU model and virtualization.
_NARROW = ("name", "gpus", "description")
_WIDE = ("name", "gpus", "gpuModels", "virtualization", "description")
_HEADERS = {"gpuModels": "gpu model"}


@click.group("machine")
def machine_group() -> None:
    """Built-in and imported machine descriptions, for `run --simulate NAME` and `--machine FILE`."""


@machine_group.command("list")
@output_option
def list_cmd(output: str) -> None:
    """List the built-in machines."""
    try:
        specs = [load_builtin(name).spec for name in builtin_names()]
    except MachineError as exc:
        raise InputError(f"broken built-in machine: {exc}") from exc
    data = [_summary(s) for s in specs]
    if output in ("json", "yaml"):
        click.echo(render_data(data, output), nl=False)
        return
    keys = _WIDE if output == "wide" else _NARROW
    console = make_console(wide=output == "wide", color=False)
    table = make_table(*(_HEADERS.get(k, k) for k in keys))
    for row in data:
        table.add_row(*(str(row[k]) for k in keys))
    console.print(table)
    click.echo(console_text(console), nl=False)


@machine_group.command("show")
@click.argument("name")
def show_cmd(name: str) -> None:
    """Print a built-in machine's description (YAML)."""
    try:
        machine = load_builtin(name)
    except MachineError as exc:
        raise InputError(str(exc)) from exc
    click.echo(to_yaml(machine.spec), nl=False)


@machine_group.command("import")
@click.option("--topo", "topo", type=_FILE, required=True, help="Output of `nvidia-smi topo -m`.")
@click.option("--smi-q", "smi_q", type=_FILE, help="Output of `nvidia-smi -q` (GPU model, memory, vGPU).")
@click.option("--gpu", "gpu", metavar="NAME", help="GPU product name, e.g. 'NVIDIA L40S' (or --smi-q).")
@click.option("--name", "name", help="Machine name; default the --topo file's name.")
@click.option("--to", "to", type=_FILE, help="Write the description to this file instead of stdout.")
def import_cmd(topo: Path, smi_q: Path | None, gpu: str | None, name: str | None, to: Path | None) -> None:
    """Turn a real node's `nvidia-smi topo -m` (and `-q`, or a GPU name) into a machine description.

    Check "will my model fit on this box" before buying or building it:
    `nimdoctor run --machine FILE --model M`. Topology alone gives GPUs of unknown model.
    """
    if smi_q is not None and gpu is not None:
        raise InputError("give --smi-q or --gpu, not both")
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
    text = imported.to_yaml()
    if to is None:
        click.echo(text, nl=False)
        return
    try:
        to.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--to {to}: cannot write: {exc}") from exc
    click.echo(clean_line(f"wrote {to} ({len(imported.spec.gpus)} GPUs)"), err=True)


def _read(path: Path, option: str) -> str:
    try:
        return files.read_text_file(path, MAX_CAPTURE_BYTES)
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{option} {path}: cannot read: not UTF-8 (byte {exc.start})") from exc


def _summary(spec: MachineSpec) -> dict[str, Any]:
    return {
        "name": spec.metadata.name,
        "gpus": len(spec.gpus),
        "gpuModels": _models(spec),
        "virtualization": spec.virtualization.value,
        "description": spec.metadata.description,
    }


def _models(spec: MachineSpec) -> str:
    counts = Counter(g.name for g in spec.gpus)
    return ", ".join(f"{n}x {model}" for model, n in counts.items()) or "-"
