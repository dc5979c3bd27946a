"""`nimdoctor agent`: the DaemonSet process. Probes on an interval, serves metrics and health, publishes the
report as a NodeReport and on the Node; or, with `--once`, probes, publishes and exits."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import click

from nimdoctor import __version__
from nimdoctor.cli.options import (
    InputError,
    catalog_or_exit,
    checks_dir_option,
    host_root_option,
    machine_options,
    node_name_option,
    resolve_sources,
)
from nimdoctor.logs import configure as configure_logging

SHUTDOWN_GRACE = 3.0  # seconds a probe or request in flight gets to finish after SIGTERM
RT_NOFILE_CHECK = "NIM-RT-001"  # its `minNofile` decides the nofile-ok label

log = logging.getLogger("nimdoctor.agent")
_seconds = click.FloatRange(min=0, min_open=True)


def _listen(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, int]:
    from nimdoctor.agent.server import ListenError, parse_listen

    try:
        return parse_listen(value)
    except ListenError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command("agent")
@click.option(
    "--listen",
    default="0.0.0.0:9402",
    show_default=True,
    metavar="HOST:PORT",
    callback=_listen,
    help="Serve /metrics, /healthz and /readyz here.",
)
@click.option(
    "--interval",
    type=_seconds,
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Time between probes.",
)
@click.option(
    "--heartbeat",
    type=_seconds,
    metavar="SECONDS",
    default=300.0,
    show_default=True,
    help="Rewrite the NodeReport at least this often, even when nothing changed.",
)
@click.option(
    "--stale-after",
    type=_seconds,
    metavar="SECONDS",
    default=900.0,
    show_default=True,
    help="When readers treat a NodeReport as stale; must exceed --heartbeat.",
)
@click.option(
    "--once",
    is_flag=True,
    help="Probe, publish and exit: 0 published, 1 not published (no credentials, or failed).",
)
@click.option("--no-publish", is_flag=True, help="Serve metrics only; never call the Kubernetes API.")
@click.option(
    "--publish-simulated",
    is_flag=True,
    help="Publish a simulated machine's report (--simulate, --machine-file) as the node's NodeReport: for "
    "demo and test clusters only. Without it the agent refuses to publish a simulation.",
)
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Kubeconfig to publish with (default: the in-cluster account, else KUBECONFIG; never "
    "~/.kube/config unless given here).",
)
@node_name_option
@host_root_option
@checks_dir_option
@machine_options
def agent_cmd(
    listen: tuple[str, int],
    interval: float,
    heartbeat: float,
    stale_after: float,
    once: bool,
    no_publish: bool,
    publish_simulated: bool,
    kubeconfig: Path | None,
    node_name: str | None,
    host_root: Path | None,
    checks_dir: Path | None,
    simulate: str | None,
    machine_file: Path | None,
) -> None:
    """Run on every GPU node: probe it every --interval seconds, serve the verdicts as Prometheus metrics,
    and publish them as the node's NodeReport, a NIMNotReady condition and nimdoctor.io/ labels.

    Without Kubernetes credentials (or with --no-publish) it serves metrics only. SIGTERM stops it within
    a few seconds, even during a probe.

    Exit codes: 0 stopped by SIGTERM (or, with --once, published, or probed under --no-publish); 1 --once
    did not publish (no credentials, or the API failed); 2 usage or input error; 4 --once produced no
    report; 130 interrupted.
    """
    if stale_after <= heartbeat:
        raise click.UsageError(
            f"--stale-after ({stale_after:g} s) must exceed --heartbeat ({heartbeat:g} s), "
            "or every report goes stale before its next heartbeat"
        )
    catalog = catalog_or_exit(checks_dir)
    sources, default_node = resolve_sources(host_root, simulate, machine_file)
    node = node_name or default_node
    _configure_logging()

    from nimdoctor.agent.loop import Agent, Schedule
    from nimdoctor.agent.state import AgentState

    state = AgentState()
    schedule = Schedule(interval=interval, heartbeat=heartbeat, backoff_cap=min(60.0, max(1.0, interval)))
    publisher, where = (None, None) if no_publish else _publisher(kubeconfig, node, heartbeat, catalog)
    if publisher is not None and sources.simulated is not None and not publish_simulated:
        raise InputError(
            f"refusing to publish a simulated report ({sources.simulated}) as node {node!r} to "
            f"{publisher.api.client.configuration.host} ({where}): a simulation is not a measurement. "
            "Add --publish-simulated for a demo or test cluster, or --no-publish"
        )
    agent = Agent(sources, catalog, node, state, publisher, schedule)
    target = f"{publisher.api.client.configuration.host} ({where})" if publisher else "nowhere (metrics only)"
    cadence = "one probe" if once else f"probing every {interval:g} s"
    log.info("nimdoctor agent %s on node %s: %s, publishing to %s", __version__, node, cadence, target)
    if once:
        sys.exit(_run_once(agent, node, publish=not no_publish))
    sys.exit(_serve(agent, state, catalog, listen, interval, publishing=not no_publish))


def _configure_logging() -> None:
    configure_logging()


def _publisher(kubeconfig: Path | None, node: str, heartbeat: float, catalog: Any) -> tuple[Any, str | None]:
    """A Publisher and where its credentials come from, or (None, None), said once, when there are none.
    `~/.kube/config` is never used unless named: an agent must not publish to a cluster by accident."""
    from nimdoctor.cluster.api import KubeApi
    from nimdoctor.cluster.client import (
        ClusterConfigError,
        credential_source,
        home_kubeconfig,
        load_api_client,
    )
    from nimdoctor.cluster.publisher import Publisher

    try:
        client = load_api_client(kubeconfig, retries=False, home=False)
    except ClusterConfigError as exc:
        raise InputError(str(exc)) from exc
    if client is None:
        ignored = home_kubeconfig()
        unused = f"; {ignored} is not used unless given as --kubeconfig" if ignored.is_file() else ""
        log.info(
            "no Kubernetes credentials (no in-cluster service account, no --kubeconfig, no KUBECONFIG)%s: "
            "serving metrics only",
            unused,
        )
        return None, None
    min_nofile = int(catalog.get(RT_NOFILE_CHECK).params["minNofile"])
    publisher = Publisher(KubeApi(client), node, heartbeat=heartbeat, min_nofile=min_nofile)
    return publisher, credential_source(kubeconfig, home=False)


def _run_once(agent: Any, node: str, *, publish: bool) -> int:
    """Probe and publish once, and say which: without credentials nothing was published (1), as when the
    API failed; only --no-publish asks for a probe alone (0)."""
    result: list[int] = []
    code = _until_signal(lambda: result.append(agent.once()), lambda: result[0], interrupted=130)
    report = agent.state.snapshot.report
    ready = f"ready={report.ready}" if report is not None else "no report"
    if code == 0 and publish and agent.publisher is None:
        log.error(
            "node %s: %s; not published: no Kubernetes credentials (--no-publish to probe only)", node, ready
        )
        return 1
    if code == 0:
        log.info("node %s: %s; %s", node, ready, "published" if publish else "not published (--no-publish)")
    elif code == 1:
        log.error("node %s: %s; not published: the API refused or was unreachable", node, ready)
    return code


def _serve(
    agent: Any, state: Any, catalog: Any, listen: tuple[str, int], interval: float, publishing: bool
) -> int:
    from prometheus_client import CollectorRegistry
    from prometheus_client.process_collector import ProcessCollector

    from nimdoctor.agent.metrics import AgentCollector, catalog_checks
    from nimdoctor.agent.server import HttpServer, ListenError, health_app

    registry = CollectorRegistry(auto_describe=False)
    AgentCollector(state, catalog_checks(catalog), registry=registry, publishing=publishing)
    ProcessCollector(registry=registry)
    window = 2 * interval
    try:
        server = HttpServer(*listen, health_app(registry, lambda: state.ready(window), window))
    except ListenError as exc:
        raise InputError(str(exc)) from exc
    server.start()
    log.info("serving /metrics, /healthz and /readyz on %s:%d", listen[0], server.port)
    stop = threading.Event()
    try:
        # `run` returns only once stopped; returning on its own would be a bug (exit 4).
        return _until_signal(lambda: agent.run(stop), lambda: 4, interrupted=0, stop=stop)
    finally:
        server.stop()


def _until_signal(
    work: Callable[[], None],
    outcome: Callable[[], int],
    interrupted: int,
    stop: threading.Event | None = None,
) -> int:
    """Run `work` in a daemon thread until it ends or SIGTERM/SIGINT arrives, then give the exit code:
    `outcome()` when the work ended by itself, `interrupted` after SIGTERM, 130 after SIGINT.

    A probe blocked in NVML cannot be interrupted, so after a signal the worker gets `SHUTDOWN_GRACE`
    seconds and is then left behind: the process exits anyway.
    """
    stopped = stop or threading.Event()
    received: list[int] = []
    failed: list[BaseException] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        stopped.set()

    def run() -> None:
        try:
            work()
        except Exception as exc:
            failed.append(exc)
            log.exception("internal error")
        finally:
            stopped.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    worker = threading.Thread(target=run, name="nimdoctor-agent", daemon=True)
    try:
        worker.start()
        while not stopped.wait(0.5):
            pass
        worker.join(SHUTDOWN_GRACE)
        if worker.is_alive():
            log.warning("stopping with a probe or request still in flight")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if signal.SIGINT in received:
        return 130
    if received:
        log.info("stopped by SIGTERM")
        return interrupted
    return 4 if failed else outcome()
