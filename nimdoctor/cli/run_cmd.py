"""`nimdoctor run`: diagnose this node (or a described one) and exit with the verdict."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nimdoctor.cli.cluster_run import cluster_options, run_cluster
from nimdoctor.cli.model_options import did_you_mean, model_options, model_request
from nimdoctor.cli.options import (
    InputError,
    catalog_or_exit,
    checks_dir_option,
    fail_on_option,
    host_root_option,
    machine_options,
    node_name_option,
    output_option,
    resolve_sources,
    selected_ids,
    selection_options,
)
from nimdoctor.diagnose import diagnose, exit_code
from nimdoctor.render import render
from nimdoctor.report import Severity


@click.command("run")
@host_root_option
@checks_dir_option
@node_name_option
@machine_options
@model_options(required=False)
@output_option
@selection_options
@fail_on_option
@cluster_options
def run_cmd(
    host_root: Path | None,
    checks_dir: Path | None,
    node_name: str | None,
    simulate: str | None,
    machine_file: Path | None,
    model: str | None,
    precision: str | None,
    tp: int | None,
    pp: int | None,
    gpus: int | None,
    max_model_len: int | None,
    mig: str | None,
    nim_version: str | None,
    output: str,
    only: str | None,
    skip: str | None,
    fail_on: str,
    cluster: bool,
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    kubeconfig: Path | None,
    request_timeout: float,
    operator_version: str,
) -> None:
    """Diagnose this node (or a described machine): PASS/WARN/FAIL per check, with the exact fix.

    With --model, also say whether that NIM model fits here, at which tensor parallelism, and why not.
    With --cluster, check the NIM workloads of a live cluster instead (-n NS or -A; read-only).

    Exit codes: 1 a check failed; else 3 a check could not be evaluated; 2 usage or input error; 0 otherwise
    (--fail-on critical: only critical checks count).
    """
    if cluster:
        if host_root or node_name or simulate or machine_file or model:
            raise InputError("--cluster checks workloads: it takes no node or model options")
        run_cluster(
            checks_dir=checks_dir,
            kubeconfig=kubeconfig,
            request_timeout=request_timeout,
            namespaces=namespaces,
            all_namespaces=all_namespaces,
            operator_version=operator_version,
            output=output,
            only=only,
            skip=skip,
            fail_on=Severity(fail_on),
        )
    if namespaces or all_namespaces or kubeconfig:
        raise InputError("-n, -A and --kubeconfig go with --cluster")
    catalog = catalog_or_exit(checks_dir)
    request = model_request(catalog, model, precision, tp, pp, gpus, max_model_len, mig, nim_version)
    ids = selected_ids(catalog, only, skip)
    sources, default_node = resolve_sources(host_root, simulate, machine_file)
    if model is not None:
        did_you_mean(catalog, model)
    report = diagnose(sources, catalog, node=node_name or default_node, only=ids, model=request)
    click.echo(render(report, output, color=sys.stdout.isatty()), nl=False)
    sys.exit(exit_code(report, Severity(fail_on)))
