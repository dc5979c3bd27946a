"""The `nimdoctor` command: a thin click layer that parses, calls, renders and sets the exit code.

Subcommands are imported when they are invoked (click's lazy-loading group pattern), so `nimdoctor run`
does not pay for the machine importer, the planner or the topology renderer.
"""

from __future__ import annotations

import importlib

import click

from nimdoctor import __version__

COMMANDS = {
    "run": "nimdoctor.cli.run_cmd:run_cmd",
    "plan": "nimdoctor.cli.plan_cmd:plan_cmd",
    "topo": "nimdoctor.cli.topo_cmd:topo_cmd",
    "machine": "nimdoctor.cli.machine_cmd:machine_group",
    "checks": "nimdoctor.cli.catalog_cmds:checks_cmd",
    "explain": "nimdoctor.cli.catalog_cmds:explain_cmd",
    "extender": "nimdoctor.cli.extender_cmd:extender_cmd",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every subcommand, in the order of `COMMANDS` (the help lists them that way)."""
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the subcommand's module and return its command; None for an unknown name."""
        if cmd_name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nimdoctor")
def cli() -> None:
    """Find what will break NVIDIA NIM pods on a GPU node, and say the fix."""


def main() -> None:
    """Console-script entry point."""
    cli()
