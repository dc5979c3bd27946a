"""The agent's Collector: fresh families from the latest snapshot on every scrape, every node check of the
catalog present from the start, names and values as documented (read with `get_sample_value`)."""

from __future__ import annotations

import math
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from nimdoctor import __version__
from nimdoctor.agent.metrics import AgentCollector, catalog_checks
from nimdoctor.agent.state import AgentState
from nimdoctor.catalog import Catalog, load_catalog
from nimdoctor.report import Status
from tests.cluster.reports import NOW, report_of

T0 = NOW.timestamp()


def collector(catalog: Catalog) -> tuple[AgentState, CollectorRegistry]:
    state = AgentState(monotonic=lambda: 0.0)
    registry = CollectorRegistry(auto_describe=False)
    AgentCollector(state, catalog_checks(catalog), registry=registry)
    return state, registry


def check(registry: CollectorRegistry, name: str, check_id: str, **labels: str) -> float | None:
    severity = {"NIM-GPU-003": "critical", "NIM-RT-001": "warning", "NIM-GPU-010": "warning"}[check_id]
    return registry.get_sample_value(name, {"check": check_id, "severity": severity, **labels})


def test_every_node_check_is_there_before_the_first_probe(catalog: Catalog) -> None:
    _, registry = collector(catalog)
    node_checks = [c for c, _ in catalog_checks(catalog)]
    assert node_checks
    assert not [c for c in node_checks if c.startswith("NIM-FIT-")]  # placement checks: the extender's
    for check_id, severity in catalog_checks(catalog):
        labels = {"check": check_id, "severity": severity.value}
        assert registry.get_sample_value("nimdoctor_check_success", labels) == 0
        assert registry.get_sample_value("nimdoctor_check_last_run_timestamp_seconds", labels) == 0
        assert registry.get_sample_value("nimdoctor_check_last_success_timestamp_seconds", labels) == 0
        for status in Status:
            assert registry.get_sample_value("nimdoctor_check_status", {**labels, "status": status}) == 0
    assert registry.get_sample_value("nimdoctor_node_ready") is None
    assert registry.get_sample_value("nimdoctor_probe_runs_total") == 0
    assert registry.get_sample_value("nimdoctor_publish_failures_total") == 0
    assert registry.get_sample_value("nimdoctor_publish_last_success_timestamp_seconds") is None
    assert (
        registry.get_sample_value("nimdoctor_build_info", {"version": __version__, "revision": "unknown"})
        == 1
    )


def test_a_lost_gpu(catalog: Catalog) -> None:
    state, registry = collector(catalog)
    state.probed(report_of("gpu-lost"), T0, 0.25)
    assert registry.get_sample_value("nimdoctor_node_ready") == 0
    assert check(registry, "nimdoctor_check_success", "NIM-GPU-003") == 0
    assert check(registry, "nimdoctor_check_status", "NIM-GPU-003", status="fail") == 1
    assert check(registry, "nimdoctor_check_status", "NIM-GPU-003", status="pass") == 0
    assert check(registry, "nimdoctor_check_last_run_timestamp_seconds", "NIM-GPU-003") == T0
    assert check(registry, "nimdoctor_check_last_success_timestamp_seconds", "NIM-GPU-003") == 0
    assert check(registry, "nimdoctor_check_success", "NIM-GPU-010") == 1  # skipped counts as success
    assert check(registry, "nimdoctor_check_status", "NIM-GPU-010", status="skip") == 1
    gpus = [s for m in registry.collect() if m.name == "nimdoctor_gpu_info" for s in m.samples]
    assert sorted(s.labels["gpu"] for s in gpus) == ["0", "1", "2", "4", "5", "6", "7"]
    assert {s.labels["product"] for s in gpus} == {"H100-SXM"}
    assert registry.get_sample_value("nimdoctor_gpu_memory_bytes", {"gpu": "0"}) == 81559 * 2**20
    assert registry.get_sample_value("nimdoctor_gpu_memory_bytes", {"gpu": "3"}) is None
    assert registry.get_sample_value("nimdoctor_gpu_nvlink_active_links", {"gpu": "0"}) == 18
    assert registry.get_sample_value("nimdoctor_nvlink_max_clique_size") == 7
    assert registry.get_sample_value("nimdoctor_probe_duration_seconds") == 0.25
    assert registry.get_sample_value("nimdoctor_probe_last_success_timestamp_seconds") == T0 + 0.25


def test_last_success_is_kept_while_a_check_fails(catalog: Catalog) -> None:
    state, registry = collector(catalog)
    state.probed(report_of("dgx-h100"), T0, 0.1)
    state.probed(report_of("gpu-lost"), T0 + 60, 0.1)
    assert check(registry, "nimdoctor_check_last_success_timestamp_seconds", "NIM-GPU-003") == T0
    assert check(registry, "nimdoctor_check_last_run_timestamp_seconds", "NIM-GPU-003") == T0 + 60
    assert check(registry, "nimdoctor_check_last_success_timestamp_seconds", "NIM-RT-001") == T0 + 60
    assert registry.get_sample_value("nimdoctor_probe_runs_total") == 2


def test_gpu_series_leave_with_the_gpus(catalog: Catalog) -> None:
    state, registry = collector(catalog)
    state.probed(report_of("dgx-h100"), T0, 0.1)
    assert registry.get_sample_value("nimdoctor_gpu_info", _gpu0(registry)) == 1
    state.probed(report_of("no-driver"), T0 + 60, 0.1)
    assert "nimdoctor_gpu_info" not in generate_latest(registry).decode()
    assert registry.get_sample_value("nimdoctor_nvlink_max_clique_size") is None
    assert check(registry, "nimdoctor_check_success", "NIM-GPU-003") == 1  # skipped: NVML is not usable


def _gpu0(registry: CollectorRegistry) -> dict[str, str]:
    (sample,) = [
        s
        for m in registry.collect()
        if m.name == "nimdoctor_gpu_info"
        for s in m.samples
        if s.labels["gpu"] == "0"
    ]
    return dict(sample.labels)


def test_containerd_limits_unlimited_is_infinite(catalog: Catalog) -> None:
    state, registry = collector(catalog)
    state.probed(report_of("l40s-4x", unlimited=True), T0, 0.1)
    assert registry.get_sample_value("nimdoctor_containerd_nofile_soft_limit") == math.inf
    assert registry.get_sample_value("nimdoctor_containerd_nofile_hard_limit") == math.inf
    state.probed(report_of("dgx-h100-containerd2"), T0, 0.1)
    assert registry.get_sample_value("nimdoctor_containerd_nofile_soft_limit") == 1024


def test_probe_and_publish_counters_are_separate(catalog: Catalog) -> None:
    state, registry = collector(catalog)
    state.probe_failed()
    state.published(False, T0)
    state.published(True, T0 + 5)
    state.published(False, T0 + 10)
    assert registry.get_sample_value("nimdoctor_probe_runs_total") == 1
    assert registry.get_sample_value("nimdoctor_probe_failures_total") == 1
    assert registry.get_sample_value("nimdoctor_publish_runs_total") == 3
    assert registry.get_sample_value("nimdoctor_publish_failures_total") == 2
    assert registry.get_sample_value("nimdoctor_publish_last_success_timestamp_seconds") == T0 + 5


def test_an_agent_meant_to_publish_exports_0_until_its_first_publish(catalog: Catalog) -> None:
    state = AgentState(monotonic=lambda: 0.0)
    registry = CollectorRegistry(auto_describe=False)
    AgentCollector(state, catalog_checks(catalog), registry=registry, publishing=True)
    assert registry.get_sample_value("nimdoctor_publish_last_success_timestamp_seconds") == 0
    state.published(False, T0)
    assert registry.get_sample_value("nimdoctor_publish_last_success_timestamp_seconds") == 0
    assert registry.get_sample_value("nimdoctor_publish_failures_total") == 1
    state.published(True, T0 + 5)
    assert registry.get_sample_value("nimdoctor_publish_last_success_timestamp_seconds") == T0 + 5


def test_an_overlaid_severity_is_the_label(tmp_path: Path) -> None:
    (tmp_path / "overlay.yaml").write_text(
        "apiVersion: nimdoctor.io/v1alpha1\nkind: CheckCatalog\n"
        "checks:\n  - id: NIM-RT-001\n    severity: critical\n"
    )
    _, registry = collector(load_catalog(tmp_path))
    labels = {"check": "NIM-RT-001", "severity": "critical"}
    assert registry.get_sample_value("nimdoctor_check_success", labels) == 0
