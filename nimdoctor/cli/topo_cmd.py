"""`nimdoctor topo`: an `nvidia-smi topo -m` style GPU matrix, for this node or a described machine."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import msgspec

from nimdoctor.cli.options import host_root_option, machine_options, resolve_sources
from nimdoctor.diagnose import probe_gpu_from
from nimdoctor.render import render_data
from nimdoctor.topo import render_topo


@click.command("topo")
@host_root_option
@machine_options
@click.option(
    "-o", "--output", type=click.Choice(("table", "json", "yaml")), default="table", show_default=True
)
def topo_cmd(host_root: Path | None, simulate: str | None, machine_file: Path | None, output: str) -> None:
    """Print the GPU matrix (NV#, PIX, PXB, PHB, NODE, SYS) from NVML facts.

    Exit codes: 0 printed; 3 NVML could not be used; 2 usage or input error.
    """
    sources, _ = resolve_sources(host_root, simulate, machine_file)
    facts = probe_gpu_from(sources)
    if output == "table":
        click.echo(render_topo(facts), nl=False)
    else:
        click.echo(render_data(msgspec.to_builtins(facts), output), nl=False)
    sys.exit(3 if facts.nvml_error is not msgspec.UNSET else 0)
