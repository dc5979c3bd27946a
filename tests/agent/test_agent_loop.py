"""The agent's loop in process against the kmock emulator: a GPU lost mid-run shows in the next report,
probing and metrics go on through API outages and errors, failed publishes are retried with backoff and
the latest report is published when the API server returns; `--once` exit codes."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nimdoctor.agent.loop import Agent, Schedule
from nimdoctor.agent.state import AgentState
from nimdoctor.catalog import Catalog
from nimdoctor.cluster import node as meta
from nimdoctor.cluster.api import KubeApi
from nimdoctor.cluster.nodereport import parse_node_document
from nimdoctor.cluster.publisher import Publisher
from nimdoctor.diagnose import Sources
from nimdoctor.report import Status
from nimdoctor.simulation.machine import load_builtin
from nimdoctor.simulation.nvml import simulated_nvml
from tests.agent.conftest import wait_for
from tests.cluster.emulated import NODE_KEY, REPORT_KEY, Faults, put_node, stored
from tests.cluster.reports import NODE, sources_of
from tests.kube import Emulator, api_client

FAST = Schedule(interval=0.1, heartbeat=300.0, backoff_cap=0.4)


class SwitchableNvml:
    """An NVML source that answers as one machine until `switch` makes it answer as another."""

    def __init__(self, machine: str) -> None:
        self.source = simulated_nvml(load_builtin(machine))

    def switch(self, machine: str) -> None:
        self.source = simulated_nvml(load_builtin(machine))

    def __call__(self) -> contextlib.AbstractContextManager[Any]:
        return self.source()


def make_agent(
    kube: Emulator, catalog: Catalog, sources: Sources, schedule: Schedule = FAST, heartbeat: float = 300.0
) -> Agent:
    api = KubeApi(api_client(kube.url), timeout=(2.0, 2.0))
    publisher = Publisher(api, NODE, heartbeat=heartbeat, min_nofile=65536)
    return Agent(sources, catalog, NODE, AgentState(), publisher, schedule)


@pytest.fixture
def running() -> Iterator[Callable[[Agent], Agent]]:
    """Run agents in background threads; stop them at teardown."""
    stops: list[tuple[threading.Event, threading.Thread]] = []

    def run(agent: Agent) -> Agent:
        stop = threading.Event()
        thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
        thread.start()
        stops.append((stop, thread))
        return agent

    yield run
    for stop, thread in stops:
        stop.set()
        thread.join(10)


def report_ready(kube: Emulator) -> bool | None:
    document = stored(kube, REPORT_KEY)
    if document is None or "status" not in document:
        return None
    return parse_node_document(document).ready


def published_healthy(
    node: Emulator, catalog: Catalog, running: Callable[[Agent], Agent]
) -> tuple[Agent, SwitchableNvml]:
    """A running agent on a dgx-h100 whose NVML can be switched, once it published its first report."""
    nvml = SwitchableNvml("dgx-h100")
    agent = running(make_agent(node, catalog, dataclasses.replace(sources_of("dgx-h100"), nvml=nvml)))
    wait_for(lambda: report_ready(node) is True, 20, "never published")
    return agent, nvml


def test_a_gpu_lost_mid_run_is_in_the_next_report(
    node: Emulator, catalog: Catalog, running: Callable[[Agent], Agent]
) -> None:
    agent, nvml = published_healthy(node, catalog, running)
    nvml.switch("gpu-lost")
    wait_for(lambda: report_ready(node) is False, 20, "the lost GPU never reached the NodeReport")
    report = agent.state.snapshot.report
    assert report is not None
    assert {f.id: f.status for f in report.findings}["NIM-GPU-003"] is Status.FAIL

    def condition() -> Any:
        return meta.find_condition(stored(node, NODE_KEY)["status"]["conditions"]) or {}

    wait_for(lambda: condition().get("status") == "True", 5, "the Node condition was not set")
    assert condition()["reason"] == "NimGpu003Failed"
    wait_for(lambda: stored(node, NODE_KEY)["metadata"]["labels"][meta.CLIQUE_LABEL] == "7", 5, "labels")


def test_probing_goes_on_through_an_outage_and_the_latest_report_is_published_after(
    node: Emulator, catalog: Catalog, running: Callable[[Agent], Agent]
) -> None:
    agent, nvml = published_healthy(node, catalog, running)
    port = node.port
    node.stop()
    nvml.switch("gpu-lost")
    before = agent.state.snapshot
    wait_for(lambda: agent.state.snapshot.publish_failures >= 3, 20, "publish failures were not counted")
    during = agent.state.snapshot
    assert during.probe_runs - before.probe_runs > during.publish_runs - before.publish_runs  # backed off
    assert during.report is not None
    assert during.report.ready is False  # probing went on: the outage hides nothing from the metrics
    node.start(port=port)
    wait_for(lambda: report_ready(node) is False, 20, "the latest report was not published after the outage")
    wait_for(
        lambda: (agent.state.snapshot.publish_last_success or 0) > (during.publish_last_success or 0),
        10,
        "the recovery was not recorded",
    )


@pytest.mark.parametrize("code", [401, 403, 410, 500, 503])
def test_api_errors_are_counted_and_retried(
    node: Emulator, faults: Faults, catalog: Catalog, running: Callable[[Agent], Agent], code: int
) -> None:
    faults.code = code
    agent = running(make_agent(node, catalog, sources_of("l40s-4x")))
    wait_for(lambda: agent.state.snapshot.publish_failures >= 2, 20, "failures were not counted")
    assert report_ready(node) is None
    assert agent.backoff.failures >= 2
    faults.code = 0
    wait_for(lambda: report_ready(node) is True, 20, "never published after the errors stopped")
    wait_for(lambda: agent.backoff.failures == 0, 5, "the backoff was not reset")


def test_the_heartbeat_is_written_even_between_probes(
    node: Emulator, catalog: Catalog, running: Callable[[Agent], Agent]
) -> None:
    slow_probes = Schedule(interval=3600.0, heartbeat=1.0, backoff_cap=0.4)
    running(make_agent(node, catalog, sources_of("l40s-4x"), slow_probes, heartbeat=1.0))
    wait_for(lambda: report_ready(node) is True, 20, "never published")
    first = stored(node, REPORT_KEY)["status"]["heartbeatTime"]
    wait_for(lambda: stored(node, REPORT_KEY)["status"]["heartbeatTime"] != first, 10, "no heartbeat")
    assert stored(node, REPORT_KEY)["status"]["observedAt"] == first  # still the one probe


def test_retries_after_a_missed_heartbeat_still_back_off(
    node: Emulator, catalog: Catalog, running: Callable[[Agent], Agent]
) -> None:
    slow_probes = Schedule(interval=3600.0, heartbeat=0.5, backoff_cap=0.4)
    agent = running(make_agent(node, catalog, sources_of("l40s-4x"), slow_probes, heartbeat=0.5))
    wait_for(lambda: report_ready(node) is True, 20, "never published")
    node.stop()
    wait_for(lambda: agent.state.snapshot.publish_failures >= 1, 10, "the heartbeat was not attempted")
    time.sleep(2.0)
    assert agent.state.snapshot.publish_failures <= 2 / 0.2 + 1  # delays of 0.2-0.4 s, not a busy loop


def test_the_nodes_own_labels_feed_the_node_checks(node: Emulator, catalog: Catalog) -> None:
    put_node(node, labels={"nvidia.com/gpu.sharing-strategy": "time-slicing", meta.READY_LABEL: "true"})
    real_node = dataclasses.replace(sources_of("dgx-h100"), simulated=None, node_labels=None)
    agent = make_agent(node, catalog, real_node)
    first = agent.probe()
    assert first is not None
    assert {f.id: f.status for f in first.findings}["NIM-GPU-010"] is Status.SKIP  # Node not read yet
    assert agent.publish()
    second = agent.probe()
    assert second is not None
    assert {f.id: f.status for f in second.findings}["NIM-GPU-010"] is Status.FAIL
    assert second.facts.node is not None
    assert meta.READY_LABEL not in getattr(second.facts.node, "labels", {})


def test_a_simulated_machine_keeps_its_own_labels(node: Emulator, catalog: Catalog) -> None:
    put_node(node, labels={"nvidia.com/gpu.sharing-strategy": "time-slicing"})
    agent = make_agent(node, catalog, sources_of("dgx-h100"))
    assert agent.publish() is False  # nothing probed yet: nothing to publish
    agent.probe()
    assert agent.publish()
    report = agent.probe()
    assert report is not None
    assert {f.id: f.status for f in report.findings}["NIM-GPU-010"] is Status.SKIP


def test_once_exit_codes(node: Emulator, catalog: Catalog) -> None:
    assert make_agent(node, catalog, sources_of("l40s-4x")).once() == 0
    assert report_ready(node) is True
    node.stop()
    assert make_agent(node, catalog, sources_of("l40s-4x")).once() == 1


def test_a_probe_that_raises_is_counted_and_once_says_so(node: Emulator, catalog: Catalog) -> None:
    def broken() -> contextlib.AbstractContextManager[Any]:
        raise RuntimeError("a bug in an NVML source")

    agent = make_agent(node, catalog, dataclasses.replace(sources_of("l40s-4x"), nvml=broken))
    assert agent.once() == 4
    assert (agent.state.snapshot.probe_runs, agent.state.snapshot.probe_failures) == (1, 1)
    assert agent.state.snapshot.publish_runs == 0
