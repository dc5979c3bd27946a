"""The agent's Prometheus metrics: a custom Collector that builds fresh families from the latest snapshot on
every scrape (no gauges poked by timers, no series left behind by a GPU that vanished).

Every node check of the catalog has its per-check series from the start (value 0, no status current, time
0) so that alerts and dashboards see each check before its first failure. Names, types and labels are
documented in docs/agent.md; no `node` label is baked in (the scrape configuration adds it).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from msgspec import UNSET
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nimdoctor.agent.state import AgentState, Snapshot
from nimdoctor.build_info import build_info
from nimdoctor.catalog import Catalog
from nimdoctor.diagnose import node_rules
from nimdoctor.gpus import product
from nimdoctor.report import Report, Severity, Status

CHECK_LABELS = ["check", "severity"]
_SUCCESS = frozenset({Status.PASS, Status.SKIP})


def catalog_checks(catalog: Catalog) -> list[tuple[str, Severity]]:
    """The node checks the agent runs, with their (possibly overlaid) severity, in catalog order."""
    return [(rule.check_id, catalog.get(rule.check_id).severity) for rule in node_rules(catalog)]


class AgentCollector(Collector):
    """Metric families for the agent's state; `checks` are the catalog's node checks (id, severity);
    `publishing`: the agent is meant to publish (not `--no-publish`), so its last publish is 0 until one."""

    def __init__(
        self,
        state: AgentState,
        checks: Sequence[tuple[str, Severity]],
        registry: CollectorRegistry | None = None,
        *,
        publishing: bool = False,
    ) -> None:
        self.state = state
        self.checks = list(checks)
        self.publishing = publishing
        if registry is not None:
            registry.register(self)

    def collect(self) -> Iterator[Metric]:
        """Families for one scrape, all from one snapshot."""
        snap = self.state.snapshot
        yield build_info()
        yield from self._checks(snap)
        yield from self._probe(snap)
        yield from self._publish(snap)
        if snap.report is not None:
            yield from _node(snap.report)

    def _checks(self, snap: Snapshot) -> Iterator[Metric]:
        success = GaugeMetricFamily(
            "nimdoctor_check_success",
            "1 when the check's latest status is pass or skip; 0 for warn, fail, error, or not yet run.",
            labels=CHECK_LABELS,
        )
        status = GaugeMetricFamily(
            "nimdoctor_check_status",
            "1 for the check's latest status, 0 for the other four.",
            labels=[*CHECK_LABELS, "status"],
        )
        last_run = GaugeMetricFamily(
            "nimdoctor_check_last_run_timestamp_seconds",
            "When the check last ran (Unix time; 0 before it ran).",
            labels=CHECK_LABELS,
        )
        last_success = GaugeMetricFamily(
            "nimdoctor_check_last_success_timestamp_seconds",
            "When the check last passed or was skipped (Unix time; 0 if never since the agent started).",
            labels=CHECK_LABELS,
        )
        findings = {f.id: f for f in snap.report.findings} if snap.report is not None else {}
        for check_id, severity in self.checks:
            labels = [check_id, severity.value]
            found = findings.get(check_id)
            current = found.status if found is not None else None
            success.add_metric(labels, 1 if current in _SUCCESS else 0)
            for value in Status:
                status.add_metric([*labels, value.value], 1 if value is current else 0)
            ran = snap.probed_at if found is not None and snap.probed_at is not None else 0
            last_run.add_metric(labels, ran)
            last_success.add_metric(labels, snap.check_last_success.get(check_id, 0))
        yield from (success, status, last_run, last_success)

    def _probe(self, snap: Snapshot) -> Iterator[Metric]:
        if snap.report is not None:
            ready = GaugeMetricFamily(
                "nimdoctor_node_ready",
                "1 when no critical check failed or could not be evaluated in the latest probe.",
            )
            ready.add_metric([], 1 if snap.report.ready else 0)
            yield ready
        if snap.probe_duration is not None:
            yield GaugeMetricFamily(
                "nimdoctor_probe_duration_seconds",
                "How long the latest probe (all checks) took.",
                value=snap.probe_duration,
            )
        yield CounterMetricFamily("nimdoctor_probe_runs", "Probes started.", value=snap.probe_runs)
        yield CounterMetricFamily(
            "nimdoctor_probe_failures", "Probes that produced no report.", value=snap.probe_failures
        )
        if snap.probe_last_success is not None:
            yield GaugeMetricFamily(
                "nimdoctor_probe_last_success_timestamp_seconds",
                "When a probe last produced a report (Unix time).",
                value=snap.probe_last_success,
            )

    def _publish(self, snap: Snapshot) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "nimdoctor_publish_runs",
            "Attempts to publish the report to the Kubernetes API.",
            value=snap.publish_runs,
        )
        yield CounterMetricFamily(
            "nimdoctor_publish_failures", "Publish attempts that failed.", value=snap.publish_failures
        )
        if snap.publish_last_success is not None or self.publishing:
            # 0 from the start of an agent meant to publish: an alert sees one that never does.
            yield GaugeMetricFamily(
                "nimdoctor_publish_last_success_timestamp_seconds",
                "When the NodeReport and Node were last confirmed up to date (Unix time; 0: not since the "
                "agent started).",
                value=snap.publish_last_success or 0,
            )


def _node(report: Report) -> Iterator[Metric]:
    """GPU and container-runtime series of the latest report (only what it measured)."""
    gpu = report.facts.gpu
    if gpu is not UNSET and gpu.nvml_error is UNSET:
        info = GaugeMetricFamily(
            "nimdoctor_gpu_info",
            "1 per GPU that answered NVML: its product, UUID and virtualization mode.",
            labels=["gpu", "uuid", "product", "virtualization"],
        )
        memory = GaugeMetricFamily("nimdoctor_gpu_memory_bytes", "Total memory of the GPU.", labels=["gpu"])
        links = GaugeMetricFamily(
            "nimdoctor_gpu_nvlink_active_links", "Active NVLinks of the GPU.", labels=["gpu"]
        )
        for g in gpu.gpus:
            if g.error is not UNSET:
                continue  # a lost GPU serves nothing; NIM-GPU-003 reports it
            index = str(g.index)
            info.add_metric(
                [index, g.uuid or "", product(g.name) if g.name else "", g.virtualization_mode or ""], 1
            )
            if g.memory_total_bytes is not None:
                memory.add_metric([index], g.memory_total_bytes)
            links.add_metric([index], sum(1 for link in g.nvlinks if link.active))
        yield from (info, memory, links)
    clique = report.capabilities.max_nvlink_clique
    if clique is not UNSET:
        yield GaugeMetricFamily(
            "nimdoctor_nvlink_max_clique_size", "GPUs in the largest NVLink clique.", value=clique
        )
    runtime = report.facts.runtime
    if runtime is not UNSET and runtime.containerd is not UNSET:
        for bound, value in (
            ("soft", runtime.containerd.nofile_soft),
            ("hard", runtime.containerd.nofile_hard),
        ):
            if value is UNSET:
                continue
            yield GaugeMetricFamily(
                f"nimdoctor_containerd_nofile_{bound}_limit",
                f"containerd's {bound} open-file limit (+Inf when unlimited).",
                value=math.inf if value is None else value,
            )
