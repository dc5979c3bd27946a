"""Options and errors shared by the commands.

Each shared option names its environment variable explicitly (`NIMDOCTOR_HOST_ROOT`, ...), so that inside
the agent pod `kubectl exec ... -- nimdoctor run` needs no flags.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click

from nimdoctor.catalog import Catalog, CatalogError, load_catalog
from nimdoctor.cli.completion import check_ids, machines
from nimdoctor.diagnose import Sources
from nimdoctor.probes.hostfs import DirFS
from nimdoctor.render_base import FORMATS
from nimdoctor.simulation.machine import MachineError, load_builtin, load_machine_file

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


def non_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: an option given as '' (or blanks) is a usage error, never a silent default."""
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty", ctx=ctx, param=param)
    return value


def node_name_option(fn: _F) -> _F:
    """`--node-name NAME` (env NIMDOCTOR_NODE_NAME)."""
    return click.option(
        "--node-name",
        envvar="NIMDOCTOR_NODE_NAME",
        callback=non_empty,
        help="Node name for the report; default the host name (env NIMDOCTOR_NODE_NAME).",
    )(fn)


def output_option(fn: _F) -> _F:
    """`-o table|wide|json|yaml`: a table for people (`wide` adds columns), a document for machines."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Output format: table, wide (more columns), json or yaml (a document with apiVersion and kind).",
    )(fn)


def fail_on_option(fn: _F) -> _F:
    """`--fail-on critical|warning`: the lowest severity whose findings set the exit code."""
    return click.option(
        "--fail-on",
        type=click.Choice(("critical", "warning")),
        default="warning",
        show_default=True,
        help="Lowest severity whose failing checks exit 1 (or unevaluable ones 3); findings of lower "
        "severity are reported but leave the exit code alone.",
    )(fn)


def selection_options(fn: _F) -> _F:
    """`--only ID,...` and `--skip ID,...`: which checks run."""
    fn = click.option(
        "--skip", metavar="ID[,ID...]", shell_complete=check_ids, help="Run every check but these."
    )(fn)
    return click.option(
        "--only", metavar="ID[,ID...]", shell_complete=check_ids, help="Run only these checks."
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
        shell_complete=machines,
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
    from nimdoctor.simulation.simulate import machine_sources

    try:
        machine = load_machine_file(machine_file) if machine_file else load_builtin(str(simulate))
        return machine_sources(machine, host_root), machine.name
    except MachineError as exc:
        raise InputError(str(exc)) from exc


def split_ids(value: str | None, option: str = "--only") -> list[str] | None:
    """`--only A,B` as upper-case ids; None when the option was not given."""
    if value is None:
        return None
    ids = [part.strip().upper() for part in value.split(",") if part.strip()]
    if not ids:
        raise click.BadParameter("give at least one check id", param_hint=option)
    return ids


def selected_ids(
    catalog: Catalog, only: str | None, skip: str | None, universe: Iterable[str] | None = None
) -> list[str] | None:
    """The check ids `--only` and `--skip` leave of `universe` (default: the catalog); None: every check.

    An id the catalog does not know is a usage error, and so is a selection that leaves nothing to run.
    """
    wanted, skipped = split_ids(only), split_ids(skip, "--skip")
    for option, ids in (("--only", wanted), ("--skip", skipped)):
        unknown = sorted(set(ids or ()) - set(catalog.checks))
        if unknown:
            shown = ", ".join(unknown)
            raise InputError(f"{option}: unknown check id(s): {shown}; `nimdoctor checks` lists them")
    if skipped is None:
        return wanted
    base = wanted if wanted is not None else list(universe if universe is not None else catalog.checks)
    left = [i for i in base if i not in skipped]
    if not left:
        raise InputError("--only and --skip leave no check to run")
    return left
