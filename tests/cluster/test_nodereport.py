"""Reading a node's capabilities out of a NodeReport or a `run -o json` Report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from nimdoctor.catalog import load_catalog
from nimdoctor.cluster.client import kubeconfig_paths
from nimdoctor.cluster.nodereport import NodeReportError, parse_node_document
from nimdoctor.diagnose import diagnose
from nimdoctor.report import format_time, to_builtins
from nimdoctor.simulation.machine import load_builtin
from nimdoctor.simulation.simulate import machine_sources

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def report_document(machine: str) -> Any:
    sources = machine_sources(load_builtin(machine), None)
    return to_builtins(diagnose(sources, load_catalog(None), node=f"node-{machine}", now=NOW))


def as_nodereport(doc: Any, heartbeat: dt.datetime) -> dict[str, Any]:
    status = {k: doc[k] for k in ("ready", "capabilities", "facts", "findings")}
    status.update(observedAt=doc["generatedAt"], heartbeatTime=format_time(heartbeat))
    return {
        "apiVersion": "nimdoctor.io/v1alpha1",
        "kind": "NodeReport",
        "metadata": {"name": doc["node"]},
        "status": status,
    }


def test_report_document_gives_the_same_capabilities_as_the_diagnosis() -> None:
    doc = report_document("dgx-h100-containerd2")
    record = parse_node_document(doc)
    assert record.node == "node-dgx-h100-containerd2"
    assert record.capabilities.nofile_soft == 1024
    assert record.capabilities.gpu_count == 8
    assert record.heartbeat_at is None
    assert record.observed_at == NOW


def test_nodereport_staleness_follows_the_heartbeat() -> None:
    doc = as_nodereport(report_document("dgx-h100"), heartbeat=NOW)
    record = parse_node_document(doc)
    assert record.ready is True
    assert not record.is_stale(NOW + dt.timedelta(minutes=15), stale_after=900)
    assert record.is_stale(NOW + dt.timedelta(minutes=15, seconds=1), stale_after=900)


def test_failing_checks_are_listed_in_report_order() -> None:
    record = parse_node_document(report_document("gpu-lost"))
    assert record.ready is False
    assert "NIM-GPU-003" in record.failing


def test_unknown_capability_keys_from_a_newer_agent_are_ignored() -> None:
    doc = report_document("l40s-4x")
    doc["capabilities"]["somethingNew"] = {"x": 1}
    assert parse_node_document(doc).capabilities.gpu_product == "L40S"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(kind="Pod"), "neither"),
        (lambda d: d.update(apiVersion="v1"), "apiVersion"),
        (lambda d: d.update(node=""), "node name"),
        (lambda d: d.update(ready="yes"), "ready"),
        (lambda d: d.update(capabilities=[]), "capabilities"),
        (lambda d: d["capabilities"].update(gpuCount="eight"), "capabilities"),
        (lambda d: d.update(generatedAt="yesterday"), "timestamp"),
    ],
)
def test_malformed_documents_are_a_clear_error(mutate: Any, message: str) -> None:
    doc = report_document("l40s-4x")
    mutate(doc)
    with pytest.raises(NodeReportError, match=message):
        parse_node_document(doc)


def test_nodereport_without_status_is_an_error() -> None:
    doc = {"apiVersion": "nimdoctor.io/v1alpha1", "kind": "NodeReport", "metadata": {"name": "n"}}
    with pytest.raises(NodeReportError, match="no status"):
        parse_node_document(doc)


def test_kubeconfig_naming_a_missing_file_counts_as_none(tmp_path: Path) -> None:
    assert kubeconfig_paths({"KUBECONFIG": str(tmp_path / "missing")}) == []
    real = tmp_path / "config"
    real.write_text("apiVersion: v1\nkind: Config\n")
    assert kubeconfig_paths({"KUBECONFIG": f"{tmp_path / 'missing'}:{real}"}) == [real]
