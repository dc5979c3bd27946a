"""`nimdoctor topo`: an `nvidia-smi topo -m` style GPU matrix, for this node or a described machine."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import msgspec

from nimdoctor.cli.options import host_root_option, machine_options, output_option, resolve_sources
from nimdoctor.diagnose import probe_gpu_from
from nimdoctor.documents import Topology
from nimdoctor.render_base import console_text, make_console, make_table, render_data
from nimdoctor.report import GpuFacts
from nimdoctor.topo import gpu_matrix_rows, render_topo


@click.command("topo")
@host_root_option
@machine_options
@output_option
def topo_cmd(host_root: Path | None, simulate: str | None, machine_file: Path | None, output: str) -> None:
    """Print the GPU matrix (NV#, PIX, PXB, PHB, NODE, SYS) from NVML facts; -o wide adds a table of the
    GPUs (model, memory, bus id, NVLinks).

    Exit codes: 0 printed; 3 NVML could not be used; 2 usage or input error.
    """
    sources, node = resolve_sources(host_root, simulate, machine_file)
    facts = probe_gpu_from(sources)
    if output in ("json", "yaml"):
        topology = Topology(
            node=node,
            simulated=sources.simulated or msgspec.UNSET,
            matrix=gpu_matrix_rows(facts),
            gpu=facts,
        )
        click.echo(render_data(topology, output), nl=False)
    else:
        text = render_topo(facts)
        if output == "wide" and facts.gpus:
            text += "\n" + _gpu_table(facts)
        click.echo(text, nl=False)
    sys.exit(3 if facts.nvml_error is not msgspec.UNSET else 0)


def _gpu_table(facts: GpuFacts) -> str:
    from nimdoctor.units import gib

    console = make_console(color=False)
    table = make_table("gpu", "name", "memory", "bus-id", "numa", "nvlinks", prose=())
    for gpu in facts.gpus:
        active = sum(1 for link in gpu.nvlinks if link.active)
        table.add_row(
            f"GPU{gpu.index}",
            gpu.name or "<unknown>",
            "<unknown>" if gpu.memory_total_bytes is None else gib(gpu.memory_total_bytes),
            gpu.bus_id or "<unknown>",
            "<unknown>" if gpu.numa_node is None else str(gpu.numa_node),
            f"{active}/{len(gpu.nvlinks)} up" if gpu.nvlinks else "none",
        )
    console.print(table)
    return console_text(console)
