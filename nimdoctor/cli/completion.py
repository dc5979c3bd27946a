"""Shell completion of the values nimdoctor knows: built-in machines, check ids and catalog models.

click completes commands and options itself (`_NIMDOCTOR_COMPLETE=bash_source nimdoctor`, see README);
these callbacks add the values. `--only` and `--skip` take comma-separated ids: the last one is completed.
A catalog that cannot be loaded completes nothing (completion must never print an error into the shell).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.shell_completion import CompletionItem

if TYPE_CHECKING:
    from nimdoctor.catalog import Catalog


def _catalog(ctx: click.Context) -> Catalog | None:
    from nimdoctor.catalog import CatalogError, load_catalog

    overlay = ctx.params.get("checks_dir")
    try:
        return load_catalog(overlay if isinstance(overlay, Path) else None)
    except CatalogError:
        return None


def machines(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Built-in machine names (`--simulate`, `machine show`)."""
    from nimdoctor.simulation.machine import builtin_names

    return [CompletionItem(name) for name in builtin_names() if name.startswith(incomplete)]


def check_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Check ids of the catalog (`explain`), or the last of a comma-separated list (`--only`, `--skip`)."""
    catalog = _catalog(ctx)
    if catalog is None:
        return []
    done, _, last = incomplete.rpartition(",")
    prefix = f"{done}," if done else ""
    return [
        CompletionItem(prefix + check_id, help=check.title)
        for check_id, check in catalog.checks.items()
        if check_id.startswith(last.upper())
    ]


def models(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Model names of the catalog (`--model`), matched by their full name or the part after the `/`."""
    catalog = _catalog(ctx)
    if catalog is None:
        return []
    wanted = incomplete.lower()
    return [
        CompletionItem(name, help=f"{entry.params_b:g}B {entry.kind}")
        for name, entry in catalog.models.items()
        if name.lower().startswith(wanted) or name.lower().rsplit("/", 1)[-1].startswith(wanted)
    ]
