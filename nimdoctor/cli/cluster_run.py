"""`nimdoctor run --cluster`: the workload checks against a live cluster's NIM objects, read-only."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from nimdoctor.cli.options import InputError, catalog_or_exit
from nimdoctor.cli.workload_options import (
    api_client_or_exit,
    checks_or_exit,
    kubeconfig_option,
    namespace_options,
    operator_version_option,
    parse_operator_version,
    request_timeout_option,
)
from nimdoctor.report import Severity, at_least

_F = TypeVar("_F", bound=Callable[..., Any])


def cluster_options(fn: _F) -> _F:
    """`--cluster` and what goes with it: `-n`/`-A`, `--kubeconfig`, `--request-timeout`,
    `--operator-version`."""
    fn = operator_version_option(request_timeout_option(kubeconfig_option(namespace_options(fn))))
    return click.option(
        "--cluster",
        is_flag=True,
        help="Check the NIM workloads (NIMService, NIMCache) of a live cluster instead of this node.",
    )(fn)


def scope(namespaces: tuple[str, ...], all_namespaces: bool, kubeconfig: Path | None) -> list[str] | None:
    """The namespaces to read (None: all): -A, the -n given, else the context's namespace."""
    if all_namespaces and namespaces:
        raise InputError("give -n/--namespace or -A/--all-namespaces, not both")
    if all_namespaces:
        return None
    if namespaces:
        return list(dict.fromkeys(namespaces))
    from nimdoctor.workloads.collect import default_namespace

    return [default_namespace(kubeconfig)]


def run_cluster(
    *,
    checks_dir: Path | None,
    kubeconfig: Path | None,
    request_timeout: float,
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    operator_version: str,
    output: str,
    only: str | None,
    skip: str | None,
    fail_on: Severity,
) -> NoReturn:
    """Collect, judge, print, exit: 1 a check failed; else 3 one could not be evaluated (or the cluster
    could not be read); 2 usage error. Only checks at least as severe as `fail_on` set the exit code."""
    from nimdoctor.workloads.collect import CollectError, collect
    from nimdoctor.workloads.evaluate import build_report, evaluate
    from nimdoctor.workloads.output import render_workloads
    from nimdoctor.workloads.report import exit_code

    catalog = catalog_or_exit(checks_dir)
    version = parse_operator_version(operator_version)
    checks = checks_or_exit(catalog, only, skip)
    wanted = scope(namespaces, all_namespaces, kubeconfig)
    client = api_client_or_exit(kubeconfig, request_timeout)
    try:
        snapshot = collect(client, wanted, catalog, version)
    except CollectError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(3)
    finally:
        client.close()
    findings = evaluate(snapshot.subjects, snapshot.world, checks)
    report = build_report(
        findings,
        source="cluster",
        world=snapshot.world,
        scope=wanted or ["*"],
        objects=len(snapshot.subjects),
        notes=snapshot.notes,
    )
    click.echo(render_workloads(report, output, catalog, color=sys.stdout.isatty()), nl=False)
    sys.exit(exit_code([f for f in findings if at_least(f.severity, fail_on)]))
