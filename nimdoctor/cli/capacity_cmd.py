"""`nimdoctor capacity --model NAME`: how many replicas of a model a fleet takes, where, what fixes add."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nimdoctor.cli.model_options import did_you_mean, model_options, model_request
from nimdoctor.cli.options import InputError, catalog_or_exit, checks_dir_option, output_option
from nimdoctor.cli.workload_options import api_client_or_exit, kubeconfig_option
from nimdoctor.render_base import render_data


@click.command("capacity")
@model_options(required=True)
@click.option(
    "--reports",
    type=click.Path(path_type=Path),
    help="Node reports from a file or a directory of *.json/*.yaml/*.yml (Report or NodeReport documents, "
    "as the extender's --reports reads them).",
)
@click.option(
    "--pods",
    "pods_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The pods holding GPUs: the output of `kubectl get pods -A -o json` (with --reports; without it "
    "every GPU counts as free).",
)
@click.option(
    "--cluster",
    is_flag=True,
    help="Read NodeReports, Nodes and Pods from a live cluster (read-only: three lists).",
)
@click.option(
    "--trust-simulated",
    is_flag=True,
    help="Count simulated reports (agent --simulate, run --simulate) as if measured: for demos and tests "
    "only. Without it a simulated report's node is unknown, as the extender treats it.",
)
@kubeconfig_option
@checks_dir_option
@output_option
def capacity_cmd(
    model: str,
    precision: str | None,
    tp: int | None,
    pp: int | None,
    gpus: int | None,
    max_model_len: int | None,
    mig: str | None,
    nim_version: str | None,
    reports: Path | None,
    pods_file: Path | None,
    cluster: bool,
    trust_simulated: bool,
    kubeconfig: Path | None,
    checks_dir: Path | None,
    output: str,
) -> None:
    """How many more replicas of a NIM model fit the fleet, on which nodes, at which TP, and what each
    fix on a node would add (the unlock table). See docs/capacity.md.

    Exit codes: 0 at least one replica fits; 1 none fits; 3 none fits and some nodes could not be judged
    (or the cluster could not be read); 2 usage or input error.
    """
    from nimdoctor.capacity import capacity, exit_code
    from nimdoctor.capacity.render import render_table
    from nimdoctor.capacity.sources import FleetError, cluster_fleet, offline_fleet

    if cluster == (reports is not None):
        raise InputError("give --reports PATH (offline) or --cluster (live), one of them")
    if cluster and pods_file is not None:
        raise InputError("--pods goes with --reports; --cluster reads the pods itself")
    if kubeconfig is not None and not cluster:
        raise InputError("--kubeconfig goes with --cluster")
    catalog = catalog_or_exit(checks_dir)
    request = model_request(catalog, model, precision, tp, pp, gpus, max_model_len, mig, nim_version)
    assert request is not None  # --model is required
    did_you_mean(catalog, model)
    if reports is not None:
        try:
            fleet = offline_fleet(reports, pods_file, trust_simulated=trust_simulated)
        except FleetError as exc:
            raise InputError(str(exc)) from exc
    else:
        client = api_client_or_exit(kubeconfig)
        stale_after = float(catalog.get("NIM-WL-011").params["staleAfterSeconds"])
        try:
            fleet = cluster_fleet(client, stale_after, trust_simulated=trust_simulated)
        except FleetError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(3)
        finally:
            client.close()
    document = capacity(fleet, request, catalog)
    if output in ("json", "yaml"):
        click.echo(render_data(document, output), nl=False)
    else:
        click.echo(render_table(document, wide=output == "wide", color=sys.stdout.isatty()), nl=False)
    sys.exit(exit_code(document))
