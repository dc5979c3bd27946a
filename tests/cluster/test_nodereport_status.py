"""The NodeReport status the agent writes: built from a Report, read back by the extender's reader, and
compared without the values that change on every probe."""

from __future__ import annotations

import datetime as dt

import msgspec

from nimdoctor.cluster.nodereport import (
    build_status,
    parse_node_document,
    stable_content,
    status_document,
)
from tests.cluster.reports import NOW, report_of

LATER = NOW + dt.timedelta(minutes=1)


def test_status_holds_the_report_content_and_its_times() -> None:
    report = report_of("gpu-lost")
    status = status_document(build_status(report, heartbeat=LATER, agent_version="9.9.9"))
    assert status["ready"] is False
    assert status["facts"] == msgspec.to_builtins(report.facts)
    assert status["findings"] == msgspec.to_builtins(report.findings)
    assert status["observedAt"] == "2026-11-29T12:00:00Z"
    assert status["heartbeatTime"] == "2026-11-29T12:01:00Z"
    assert status["agentVersion"] == "9.9.9"
    assert status["simulated"] == "gpu-lost"
    assert status["failingChecks"] == "NIM-GPU-003"


def test_a_healthy_node_has_no_failing_checks_key() -> None:
    status = status_document(build_status(report_of("dgx-h100"), heartbeat=NOW))
    assert "failingChecks" not in status
    assert status["capabilities"]["maxNvlinkClique"] == 8


def test_unlimited_is_written_as_null() -> None:
    status = status_document(build_status(report_of("l40s-4x", unlimited=True), heartbeat=NOW))
    assert status["capabilities"]["nofileSoft"] is None
    assert status["capabilities"]["nofileUnlimited"] is True
    assert status["facts"]["runtime"]["containerd"]["nofileHard"] is None


def test_the_reader_gets_back_what_the_agent_wrote() -> None:
    report = report_of("gpu-lost")
    document = {
        "apiVersion": "nimdoctor.io/v1alpha1",
        "kind": "NodeReport",
        "metadata": {"name": "gpu-1"},
        "status": status_document(build_status(report, heartbeat=LATER)),
    }
    record = parse_node_document(document)
    assert record.node == "gpu-1"
    assert record.capabilities == report.capabilities
    assert record.failing == ("NIM-GPU-003",)
    assert record.heartbeat_at == LATER
    assert record.observed_at == NOW


def test_the_status_is_what_the_api_server_returns_after_a_json_round_trip() -> None:
    # MIG slices are tuples in the model: a status holding them must still equal what is read back,
    # or the agent would rewrite an unchanged report on every probe.
    status = status_document(build_status(report_of("a100-mig"), heartbeat=NOW))
    assert status["capabilities"]["migSlices"]
    assert status == msgspec.json.decode(msgspec.json.encode(status))
    assert stable_content(status) == stable_content(msgspec.json.decode(msgspec.json.encode(status)))


def test_two_probes_of_an_unchanged_node_have_the_same_stable_content() -> None:
    first = status_document(build_status(report_of("dgx-h100", now=NOW), heartbeat=NOW))
    second = status_document(build_status(report_of("dgx-h100", now=LATER), heartbeat=LATER))
    assert first != second  # times and the probe's duration differ
    assert stable_content(first) == stable_content(second)


def test_free_memory_and_probe_duration_are_not_compared() -> None:
    status = status_document(build_status(report_of("dgx-h100"), heartbeat=NOW))
    changed = msgspec.json.decode(msgspec.json.encode(status))
    changed["facts"]["gpu"]["gpus"][3]["memoryFreeBytes"] = 1
    changed["facts"]["gpu"]["durationSeconds"] = 42.0
    assert stable_content(changed) == stable_content(status)
    assert "memoryFreeBytes" not in stable_content(status)["facts"]["gpu"]["gpus"][3]
    assert status["facts"]["gpu"]["gpus"][3]["memoryFreeBytes"] > 1  # the input is left as it was


def test_a_real_change_is_seen() -> None:
    healthy = status_document(build_status(report_of("dgx-h100"), heartbeat=NOW))
    lost = status_document(build_status(report_of("gpu-lost"), heartbeat=NOW))
    assert stable_content(healthy) != stable_content(lost)
    newer = status_document(build_status(report_of("dgx-h100"), heartbeat=NOW, agent_version="0.2.0"))
    assert stable_content(newer) != stable_content(healthy)
