"""`nimdoctor extender`: the kube-scheduler extender webhook (see docs/extender.md)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from nimdoctor.cli.options import InputError, catalog_or_exit, checks_dir_option
from nimdoctor.logs import configure as configure_logging

DEFAULT_LISTEN = "127.0.0.1:8765"
DEFAULT_METRICS_LISTEN = "0.0.0.0:9403"
DEFAULT_STALE_AFTER = 900.0  # 3 missed heartbeats of the agent's 300 s: the agent's own --stale-after
_UNITS = {"": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}

log = logging.getLogger("nimdoctor.extender")


class ByteSize(click.ParamType[int]):
    """A byte count: `67108864`, or with a binary suffix, `64Mi`."""

    name = "bytes"

    def __init__(self, *, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """Parse the count; a usage error names the accepted forms."""
        if isinstance(value, int):
            return value
        text = str(value).strip()
        number, unit = text.rstrip("KMGi"), text[len(text.rstrip("KMGi")) :]
        readable = number.isascii() and number.isdigit() and len(number) <= 12 and unit in _UNITS
        if not readable or int(number) < (0 if self.allow_zero else 1):
            self.fail(f"{value!r}: a positive byte count, e.g. 67108864 or 64Mi", param, ctx)
        return int(number) * _UNITS[unit]


@click.command("extender")
@click.option(
    "--listen",
    default=DEFAULT_LISTEN,
    show_default=True,
    metavar="HOST:PORT",
    help="Webhook address: POST /filter and /prioritize (plus /healthz, /readyz, /metrics). Keep it on "
    "loopback beside kube-scheduler.",
)
@click.option(
    "--metrics-listen",
    default=DEFAULT_METRICS_LISTEN,
    show_default=True,
    metavar="HOST:PORT",
    help="Second socket for Prometheus and probes: GET /metrics, /healthz, /readyz.",
)
@click.option(
    "--on-missing-report",
    type=click.Choice(["reject", "admit"]),
    default="reject",
    show_default=True,
    help="A node with no current report, or whose fit is unknown: reject it (NIM-FIT-008) or admit it.",
)
@click.option(
    "--trust-simulated",
    is_flag=True,
    help="Use simulated reports (agent --simulate, run --simulate) as if measured: for demos and tests "
    "only. Without it a simulated report counts as missing.",
)
@click.option(
    "--stale-after",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help=f"A report this old counts as missing. Default {DEFAULT_STALE_AFTER:g} when watching the cluster; "
    "report files never go stale unless this is given.",
)
@click.option(
    "--reports",
    type=click.Path(path_type=Path),
    default=None,
    help="Read node reports from a file or a directory of *.json/*.yaml/*.yml (Report or NodeReport "
    "documents) instead of watching the cluster.",
)
@click.option(
    "--tls-cert", type=click.Path(path_type=Path, dir_okay=False), help="Serve the webhook over TLS."
)
@click.option("--tls-key", type=click.Path(path_type=Path, dir_okay=False), help="The key of --tls-cert.")
@click.option(
    "--max-body",
    type=ByteSize(),
    default="64Mi",
    show_default=True,
    help="Larger request bodies are answered 413.",
)
@click.option(
    "--answer-cache",
    type=ByteSize(allow_zero=True),
    default="32Mi",
    show_default=True,
    help="Keep encoded answers to repeated requests up to this many bytes (0: keep none). Any report "
    "change drops them all.",
)
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Kubeconfig to watch NodeReports with (default: in-cluster, then kubectl's).",
)
@checks_dir_option
def extender_cmd(
    listen: str,
    metrics_listen: str,
    on_missing_report: str,
    trust_simulated: bool,
    stale_after: float | None,
    reports: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    max_body: int,
    answer_cache: int,
    kubeconfig: Path | None,
    checks_dir: Path | None,
) -> None:
    """Serve kube-scheduler's extender calls: admit NIM pods only on nodes where their model fits.

    Reports come from the cluster (a list+watch of NodeReports) or, with --reports, from files. Every
    rejected node is named with the check that failed and its short fix, e.g.
    `NIM-FIT-004 multi-GPU model on vGPUs without NVLink; use passthrough or NVLink GPUs`.

    Exit codes: 0 stopped by SIGTERM; 130 by Ctrl-C; 2 usage or input error (bad flag, unreadable report
    file, no credentials, a taken port).
    """
    from nimdoctor.extender.serve import Address, ListenError, Tls

    catalog = catalog_or_exit(checks_dir)
    if (tls_cert is None) != (tls_key is None):
        raise InputError("give --tls-cert and --tls-key together")
    if reports is not None and kubeconfig is not None:
        raise InputError("give --reports or --kubeconfig, not both")
    tls = Tls(tls_cert, tls_key) if tls_cert is not None and tls_key is not None else None
    try:
        addresses = Address.parse(listen), Address.parse(metrics_listen)
        if tls is not None:
            tls.check()
    except ListenError as exc:
        raise InputError(str(exc)) from exc

    from prometheus_client import disable_created_metrics

    # No `_created` series: they double the exposition and nothing reads them.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    configure_logging(fmt="%(asctime)s %(levelname)s %(message)s")
    from nimdoctor.extender.run import Extender, ExtenderSetupError

    try:
        extender = Extender.create(
            catalog,
            reports=reports,
            kubeconfig=kubeconfig,
            stale_after=stale_after if stale_after is not None or reports else DEFAULT_STALE_AFTER,
            admit_missing=on_missing_report == "admit",
            max_body=max_body,
            trust_simulated=trust_simulated,
            answer_cache_bytes=answer_cache,
        )
        sockets = [address.bind() for address in addresses]
    except (ExtenderSetupError, ListenError) as exc:
        raise InputError(str(exc)) from exc
    scheme = "https" if tls else "http"
    webhook, metrics = (sock.getsockname()[:2] for sock in sockets)
    log.info(
        "nimdoctor extender listening: webhook %s://%s:%d metrics http://%s:%d; reports from %s",
        scheme,
        *webhook,
        *metrics,
        reports if reports is not None else "the cluster (list+watch NodeReports)",
    )
    if trust_simulated:
        log.warning("--trust-simulated: simulated reports are used as if measured (demos and tests only)")
    sys.exit(extender.run(sockets[0], sockets[1], tls))
