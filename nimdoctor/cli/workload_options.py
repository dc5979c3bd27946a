"""Options shared by `nimdoctor lint`, `nimdoctor run --cluster` and `nimdoctor audit`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from nimdoctor.catalog import Catalog, Check
from nimdoctor.cli.options import InputError, selected_ids
from nimdoctor.cluster.limits import TIMEOUT
from nimdoctor.workloads.model import NEWEST_OPERATOR, operator_version, version_text

_F = TypeVar("_F", bound=Callable[..., Any])


def operator_version_option(fn: _F) -> _F:
    """`--operator-version X.Y[.Z]`: the NIM Operator the checks judge for (default the newest known)."""
    return click.option(
        "--operator-version",
        default=version_text(NEWEST_OPERATOR),
        show_default=True,
        help="NIM Operator version to judge for: picks its CRD schemas, CEL and webhook rules (NIM-OP-*).",
    )(fn)


def parse_operator_version(text: str) -> tuple[int, int, int]:
    """`--operator-version` as a tuple; a usage error when it is not a version."""
    try:
        return operator_version(text)
    except ValueError as exc:
        raise InputError(f"--operator-version: {exc}") from exc


def request_timeout_option(fn: _F) -> _F:
    """`--request-timeout SECONDS`: the longest wait for any one API answer."""
    return click.option(
        "--request-timeout",
        type=click.FloatRange(min=0.1, max=3600),
        default=TIMEOUT[1],
        show_default=True,
        help="Seconds to wait for each Kubernetes API answer before giving up (connecting: at most 5).",
    )(fn)


def kubeconfig_option(fn: _F) -> _F:
    """`--kubeconfig FILE`: credentials; default in-cluster, then KUBECONFIG or ~/.kube/config."""
    return click.option(
        "--kubeconfig",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Kubeconfig file (default: in-cluster credentials, else KUBECONFIG or ~/.kube/config).",
    )(fn)


def namespace_options(fn: _F) -> _F:
    """`-n/--namespace NS` (repeatable) and `-A/--all-namespaces`."""
    fn = click.option(
        "-A",
        "--all-namespaces",
        is_flag=True,
        help="Check NIM workloads in every namespace.",
    )(fn)
    return click.option(
        "-n",
        "--namespace",
        "namespaces",
        multiple=True,
        metavar="NS",
        help="Namespace to check (repeatable).",
    )(fn)


def checks_or_exit(catalog: Catalog, only: str | None, skip: str | None = None) -> list[Check]:
    """The workload checks `--only` and `--skip` select (all by default); an unknown id is a usage error."""
    from nimdoctor.workloads.evaluate import workload_checks

    ids = selected_ids(catalog, only, skip, [c.id for c in workload_checks(catalog)])
    try:
        return workload_checks(catalog, ids)
    except KeyError as exc:
        raise InputError(f"--only: {exc.args[0]}; `nimdoctor checks` lists them") from exc


def api_client_or_exit(kubeconfig: Path | None, request_timeout: float = TIMEOUT[1]) -> Any:
    """The Kubernetes API client, each request bounded by `request_timeout` seconds; no credentials at all
    is a usage error."""
    from nimdoctor.cluster.client import ClusterConfigError, require_api_client

    timeout = (min(TIMEOUT[0], request_timeout), request_timeout)
    try:
        return require_api_client(
            kubeconfig, "give --kubeconfig, set KUBECONFIG, or run in a pod with a service account", timeout
        )
    except ClusterConfigError as exc:
        raise InputError(str(exc)) from exc
