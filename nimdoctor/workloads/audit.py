"""The audit loop: every interval, judge every NIM workload in scope, export the results, and emit an Event
on an object when one of its findings first appears.

State lives in memory only for what a restart may lose without harm: the last results (re-read on the next
cycle) and which findings already have an Event (a restarted audit recreates it and gets AlreadyExists).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from nimdoctor.build_info import build_info
from nimdoctor.catalog import Catalog
from nimdoctor.report import Status
from nimdoctor.workloads.collect import CollectError, collect
from nimdoctor.workloads.evaluate import evaluate, workload_checks
from nimdoctor.workloads.events import EventWriter, FindingKey, finding_key
from nimdoctor.workloads.report import WorkloadFinding

log = logging.getLogger("nimdoctor.audit")
SUCCESS = (Status.PASS, Status.SKIP)


@dataclass
class AuditState:
    """What the last cycles found, read by the metrics collector and the health endpoints."""

    findings: list[WorkloadFinding] = field(default_factory=list)
    runs: int = 0
    failures: int = 0
    last_success: float | None = None  # unix time
    last_attempt: float | None = None  # monotonic
    lock: threading.Lock = field(default_factory=threading.Lock)


class Auditor:
    """One audit: `cycle()` collects, judges, publishes and emits Events; `run()` repeats it."""

    def __init__(
        self,
        api_client: Any,
        catalog: Catalog,
        namespaces: list[str] | None,
        operator_version: tuple[int, int, int],
        interval: float,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.api_client = api_client
        self.catalog = catalog
        self.checks = workload_checks(catalog)
        self.namespaces = namespaces
        self.operator_version = operator_version
        self.interval = interval
        self.clock = clock
        self.state = AuditState()
        self.events = EventWriter(api_client)
        self._emitted: set[FindingKey] = set()
        self._resolved: set[FindingKey] = set()

    def cycle(self) -> bool:
        """One round; True when it completed. Never raises for a cluster problem."""
        now = self.clock()
        with self.state.lock:
            self.state.runs += 1
            self.state.last_attempt = time.monotonic()
        try:
            snapshot = collect(self.api_client, self.namespaces, self.catalog, self.operator_version, now=now)
            findings = evaluate(snapshot.subjects, snapshot.world, self.checks)
        except CollectError as exc:
            log.error("audit cycle failed: %s", exc)
            return self._failed()
        except Exception:  # a bug must not stop the audit; the counter and the log say so
            log.exception("audit cycle failed")
            return self._failed()
        uids = {(s.kind, s.ref.namespace, s.ref.name): s.ref.uid for s in snapshot.subjects}
        emitted = self._emit(findings, uids, now)
        with self.state.lock:
            self.state.findings = findings
            self.state.last_success = now.timestamp()
        for note in snapshot.notes:
            log.info("note: %s", note)
        counts = {s: sum(1 for f in findings if f.status is s) for s in (Status.FAIL, Status.WARN)}
        log.info(
            "audit cycle: %d object(s), %d fail, %d warn, %d new event(s)",
            len(snapshot.subjects),
            counts[Status.FAIL],
            counts[Status.WARN],
            emitted,
        )
        return True

    def _failed(self) -> bool:
        with self.state.lock:
            self.state.failures += 1
        return False

    def _emit(
        self,
        findings: list[WorkloadFinding],
        uids: dict[tuple[str, str | None, str], str | None],
        now: dt.datetime,
    ) -> int:
        """Events for findings that were not there in the previous cycle; returns how many were created."""
        current: dict[FindingKey, WorkloadFinding] = {}
        for f in findings:
            key = finding_key(f, uids.get((f.object.kind, f.object.namespace, f.object.name)))
            if key is not None:
                current[key] = f
        gone = self._emitted - current.keys()
        self._emitted -= gone
        self._resolved |= gone
        created = 0
        for key, f in current.items():
            if key in self._emitted:
                continue
            if self.events.emit(key, f, now, again=key in self._resolved):
                self._emitted.add(key)
                self._resolved.discard(key)
                created += 1
        return created

    def run(self, stop: threading.Event) -> None:
        """Cycle every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            self.cycle()
            stop.wait(self.interval)

    def healthy(self) -> bool:
        """The loop is alive: it attempted a cycle within three intervals (or has not started yet)."""
        last = self.state.last_attempt
        return last is None or time.monotonic() - last <= 3 * self.interval + 60

    def ready(self) -> bool:
        """At least one cycle completed."""
        return self.state.last_success is not None


CAPACITY_CHECK = "NIM-WL-020"


def capacity_families(findings: list[WorkloadFinding]) -> Iterator[Any]:
    """`nimdoctor_model_capacity_replicas` and `nimdoctor_nimservice_hpa_max_replicas`, per autoscaled
    NIMService whose capacity NIM-WL-020 counted (its evidence), for the NimDoctorHpaMaxUnreachable alert."""
    from prometheus_client.core import GaugeMetricFamily

    capacity = GaugeMetricFamily(
        "nimdoctor_model_capacity_replicas",
        "Replicas of the NIMService's model that could run: those running plus those the free GPUs fit.",
        labels=["namespace", "nimservice", "model"],
    )
    maximum = GaugeMetricFamily(
        "nimdoctor_nimservice_hpa_max_replicas",
        "The NIMService's scale.hpa.maxReplicas.",
        labels=["namespace", "nimservice"],
    )
    for f in findings:
        if f.id != CAPACITY_CHECK or not isinstance(f.evidence.get("capacity"), int):
            continue
        namespace = f.object.namespace or ""
        capacity.add_metric([namespace, f.object.name, str(f.evidence["model"])], f.evidence["capacity"])
        maximum.add_metric([namespace, f.object.name], f.evidence["maxReplicas"])
    yield capacity
    yield maximum


class AuditCollector:
    """Prometheus collector over the audit's state (`nimdoctor_workload_*`, `nimdoctor_audit_*`)."""

    def __init__(self, auditor: Auditor) -> None:
        self.auditor = auditor

    def describe(self) -> list[Any]:
        """No up-front description: the families are built from state on each scrape."""
        return []

    def collect(self) -> Iterator[Any]:
        """The metric families, from the last completed cycle."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        state = self.auditor.state
        with state.lock:
            findings = list(state.findings)
            runs, failures, last = state.runs, state.failures, state.last_success
        success = GaugeMetricFamily(
            "nimdoctor_workload_check_success",
            "1 when the workload check passed or was skipped on this object, 0 for warn, fail or error.",
            labels=["namespace", "kind", "name", "check"],
        )
        for f in findings:
            success.add_metric(
                [f.object.namespace or "", f.object.kind, f.object.name, f.id],
                1.0 if f.status in SUCCESS else 0.0,
            )
        yield success
        yield from capacity_families(findings)
        yield CounterMetricFamily("nimdoctor_audit_runs", "Audit cycles started.", value=runs)
        yield CounterMetricFamily(
            "nimdoctor_audit_failures", "Audit cycles that could not complete.", value=failures
        )
        # 0 until the first cycle completes, so that an alert sees an audit that never completes one.
        yield GaugeMetricFamily(
            "nimdoctor_audit_last_success_timestamp_seconds",
            "Unix time of the last audit cycle that completed (0: none since the audit started).",
            value=last or 0,
        )
        yield build_info()
