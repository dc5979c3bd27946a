"""Options and errors shared by the commands.

Each shared option names its environment variable explicitly (`NIMDOCTOR_HOST_ROOT`, ...), so that inside
the agent pod `kubectl exec ... -- nimdoctor run` needs no flags.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from nimdoctor.catalog import Catalog, CatalogError, load_catalog
from nimdoctor.diagnose import Sources
from nimdoctor.probes.hostfs import DirFS
from nimdoctor.probes.machine import MachineError, load_builtin, load_machine_file
from nimdoctor.render import FORMATS

_F = TypeVar("_F", bound=Callable[..., Any])


class InputError(click.ClickException):
    """A usage or input error (unreadable or invalid file, unknown name): exit code 2."""

    exit_code = 2


def checks_dir_option(fn: _F) -> _F:
    """`--checks-dir DIR` (env NIMDOCTOR_CHECKS_DIR): overlay the built-in check catalog by id."""
    return click.option(
        "--checks-dir",
        envvar="NIMDOCTOR_CHECKS_DIR",
        type=click.Path(path_type=Path, file_okay=False),
        help="Overlay the built-in check catalog by id (env NIMDOCTOR_CHECKS_DIR).",
    )(fn)


def host_root_option(fn: _F) -> _F:
    """`--host-root DIR` (env NIMDOCTOR_HOST_ROOT)."""
    return click.option(
        "--host-root",
        envvar="NIMDOCTOR_HOST_ROOT",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Where the host's filesystem is mounted: / on the node, /host in the agent pod "
        "(env NIMDOCTOR_HOST_ROOT).",
    )(fn)


def node_name_option(fn: _F) -> _F:
    """`--node-name NAME` (env NIMDOCTOR_NODE_NAME)."""
    return click.option(
        "--node-name",
        envvar="NIMDOCTOR_NODE_NAME",
        help="Node name for the report; default the host name (env NIMDOCTOR_NODE_NAME).",
    )(fn)


def output_option(fn: _F) -> _F:
    """`-o table|wide|json|yaml`."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Output format.",
    )(fn)


def catalog_or_exit(checks_dir: Path | None) -> Catalog:
    """Load the catalog; a broken one is an input error, never a partial start."""
    try:
        return load_catalog(checks_dir)
    except CatalogError as exc:
        raise InputError(f"broken check catalog: {exc}") from exc


def machine_options(fn: _F) -> _F:
    """`--simulate NAME` / `--machine FILE`: diagnose a described machine instead of this node."""
    fn = click.option(
        "--machine",
        "machine_file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Diagnose the machine described in this file (see `nimdoctor machine import`).",
    )(fn)
    return click.option(
        "--simulate",
        metavar="NAME",
        help="Diagnose a built-in machine instead of this node (`nimdoctor machine list`).",
    )(fn)


def resolve_sources(
    host_root: Path | None, simulate: str | None, machine_file: Path | None
) -> tuple[Sources, str]:
    """What to probe, and the default node name: this node, or the machine asked for explicitly."""
    if simulate and machine_file:
        raise InputError("give --simulate or --machine, not both")
    if host_root is not None and not host_root.is_dir():
        raise InputError(f"--host-root {host_root}: not a directory")
    if not simulate and not machine_file:
        return Sources(host=DirFS(host_root or Path("/"))), os.uname().nodename
    from nimdoctor.simulate import machine_sources

    try:
        machine = load_machine_file(machine_file) if machine_file else load_builtin(str(simulate))
        return machine_sources(machine, host_root), machine.name
    except MachineError as exc:
        raise InputError(str(exc)) from exc
