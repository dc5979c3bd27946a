"""Report documents made the way a user makes them: `nimdoctor run --simulate M --node-name N -o json`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from nimdoctor.cli import cli


def run_json(machine: str, node: str) -> str:
    """The JSON report of the built-in `machine`, as node `node`."""
    result = CliRunner().invoke(cli, ["run", "--simulate", machine, "--node-name", node, "-o", "json"])
    assert result.exit_code in (0, 1, 3), result.output  # a verdict, never a usage or internal error
    return result.stdout


def write_reports(directory: Path, nodes: dict[str, str]) -> Path:
    """One `<node>.json` per node (`node -> machine`) in `directory`; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for node, machine in nodes.items():
        (directory / f"{node}.json").write_text(run_json(machine, node))
    return directory
