"""The `nimdoctor` command: a thin click layer that parses, calls, renders and sets the exit code."""

from __future__ import annotations

import click

from nimdoctor import __version__
from nimdoctor.cli.catalog_cmds import checks_cmd, explain_cmd
from nimdoctor.cli.machine_cmd import machine_group
from nimdoctor.cli.plan_cmd import plan_cmd
from nimdoctor.cli.run_cmd import run_cmd
from nimdoctor.cli.topo_cmd import topo_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nimdoctor")
def cli() -> None:
    """Find what will break NVIDIA NIM pods on a GPU node, and say the fix."""


cli.add_command(run_cmd)
cli.add_command(plan_cmd)
cli.add_command(topo_cmd)
cli.add_command(machine_group)
cli.add_command(checks_cmd)
cli.add_command(explain_cmd)


def main() -> None:
    """Console-script entry point."""
    cli()
