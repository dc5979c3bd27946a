"""`nimdoctor audit`: judge every NIM workload on an interval; metrics, health and Events."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from nimdoctor.cli.options import InputError, catalog_or_exit, checks_dir_option
from nimdoctor.cli.workload_options import (
    api_client_or_exit,
    kubeconfig_option,
    namespace_options,
    operator_version_option,
    parse_operator_version,
    request_timeout_option,
)
from nimdoctor.logs import configure as configure_logging


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 hosts in brackets) as (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InputError(f"--listen {value!r}: expected HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


@click.command("audit")
@click.option(
    "--listen", default="0.0.0.0:9404", show_default=True, help="Serve /metrics, /healthz, /readyz here."
)
@click.option(
    "--interval", type=click.FloatRange(min=1), default=300, show_default=True, help="Seconds between audits."
)
@click.option("--once", is_flag=True, help="Audit once, print the log, and exit (no HTTP server).")
@namespace_options
@operator_version_option
@kubeconfig_option
@request_timeout_option
@checks_dir_option
def audit_cmd(
    listen: str,
    interval: float,
    once: bool,
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    operator_version: str,
    kubeconfig: Path | None,
    request_timeout: float,
    checks_dir: Path | None,
) -> None:
    """Judge every NIM workload (NIMService, NIMCache) every --interval seconds, read-only.

    Serves nimdoctor_workload_check_success{namespace,kind,name,check} and the audit's own counters on
    /metrics, and emits a Kubernetes Event on a NIMService or NIMCache when one of its findings first
    appears. Without -n it audits every namespace. Secrets are only read by name with `get`.
    """
    from nimdoctor.workloads.audit import Auditor

    if namespaces and all_namespaces:
        raise InputError("give -n/--namespace or -A/--all-namespaces, not both")
    configure_logging()
    catalog = catalog_or_exit(checks_dir)
    version = parse_operator_version(operator_version)
    host, port = parse_listen(listen)
    client = api_client_or_exit(kubeconfig, request_timeout)
    scope = list(dict.fromkeys(namespaces)) or None
    auditor = Auditor(client, catalog, scope, version, interval)
    if once:
        sys.exit(0 if auditor.cycle() else 3)
    from nimdoctor.workloads.server import HttpServer, make_app

    try:
        server = HttpServer(make_app(auditor), host, port)
        server.start()
    except OSError as exc:
        raise InputError(f"--listen {listen}: {exc}") from exc
    stop = threading.Event()

    def terminate(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, terminate)
    logging.getLogger("nimdoctor.audit").info(
        "auditing %s every %gs; serving on %s:%d",
        ", ".join(scope) if scope else "all namespaces",
        interval,
        host,
        port,
    )
    try:
        auditor.run(stop)
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        server.stop()
        client.close()
