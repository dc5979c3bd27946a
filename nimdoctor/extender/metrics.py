"""The extender's Prometheus metrics (names per the project's conventions: `nimdoctor_` prefix, base units).

Requests and failures are counted per verb in two counters (a failure is any answer but 200), with a
duration histogram; rejected nodes are counted per check id. The cache figures are read from the cache at
scrape time by a collector, never pushed on a timer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nimdoctor.build_info import build_info
from nimdoctor.cluster.nodereport import UNUSABLE_KINDS
from nimdoctor.extender.answers import AnswerCache, Tally
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.claims import ClaimCache
from nimdoctor.extender.faults import Faults
from nimdoctor.placement import PRECEDENCE

VERBS = ("filter", "prioritize")
FAULT_PLACES = (*VERBS, "judge")  # where an unexpected exception can happen (`judge`: one node shape)
CLAIM_MODES = ("count", "all", "unknown")
# The extender answers in well under 5 ms; the scheduler gives up at its httpTimeout (seconds).
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _CacheCollector(Collector):
    """Cache size, staleness, unusable reports and sync state, internal errors, and the claim cache's size
    and sync state (when there is one), read at scrape time."""

    def __init__(
        self,
        cache: ReportCache,
        clock: Callable[[], float],
        faults: Faults,
        claims: ClaimCache | None,
        memo: AnswerCache | None,
    ) -> None:
        self.cache = cache
        self.clock = clock
        self.faults = faults
        self.claims = claims
        self.memo = memo

    def collect(self) -> Iterator[Metric]:
        stats = self.cache.stats(self.clock())
        yield GaugeMetricFamily(
            "nimdoctor_extender_cached_reports", "Node reports held in the extender's cache.", stats.cached
        )
        yield GaugeMetricFamily(
            "nimdoctor_extender_stale_reports",
            "Cached node reports older than the stale threshold (answered by --on-missing-report).",
            stats.stale,
        )
        yield GaugeMetricFamily(
            "nimdoctor_extender_oldest_report_age_seconds",
            "Age of the oldest cached node report's last heartbeat.",
            stats.oldest_age,
        )
        yield GaugeMetricFamily(
            "nimdoctor_extender_cache_synced",
            "1 once the report cache holds a full list (until then /filter answers 503).",
            1 if self.cache.synced else 0,
        )
        unusable = GaugeMetricFamily(
            "nimdoctor_extender_unusable_reports",
            "Nodes whose report is held but not used (answered by --on-missing-report), by kind: invalid "
            "(failed validation) or simulated (without --trust-simulated).",
            labels=["kind"],
        )
        refused = CounterMetricFamily(
            "nimdoctor_extender_refused_reports",
            "Unusable reports received, by kind; each node and cause counted once, however often repeated.",
            labels=["kind"],
        )
        for kind in UNUSABLE_KINDS:
            unusable.add_metric([kind], stats.unusable.get(kind, 0))
            refused.add_metric([kind], self.cache.refused[kind])
        errors = CounterMetricFamily(
            "nimdoctor_extender_internal_errors",
            "Unexpected exceptions while answering, by where: filter or prioritize (answered 500, also in "
            "request_failures) or judge (one node shape, answered by --on-missing-report).",
            labels=["where"],
        )
        for where in FAULT_PLACES:
            errors.add_metric([where], self.faults.counts[where])
        yield from (unusable, refused, errors)
        if self.claims is not None:
            cached = GaugeMetricFamily(
                "nimdoctor_extender_cached_claims",
                "ResourceClaimTemplates and ResourceClaims held for DRA pods, by kind.",
                labels=["kind"],
            )
            synced = GaugeMetricFamily(
                "nimdoctor_extender_claim_cache_synced",
                "1 once a full list of the kind has arrived (until then DRA pods' GPU counts are unknown).",
                labels=["kind"],
            )
            for kind, count in self.claims.counts().items():
                cached.add_metric([kind], count)
                synced.add_metric([kind], 1 if self.claims.synced(kind) else 0)
            yield cached
            yield synced
        if self.memo is not None:
            yield from _memo_families(self.memo)
        yield build_info()


def _memo_families(memo: AnswerCache) -> Iterator[Metric]:
    hits = CounterMetricFamily(
        "nimdoctor_extender_answer_cache_hits",
        "Requests answered from a kept encoded answer (the same request, or a replica's alike; inputs "
        "unchanged), by verb.",
        labels=["verb"],
    )
    misses = CounterMetricFamily(
        "nimdoctor_extender_answer_cache_misses", "Requests answered by computing, by verb.", labels=["verb"]
    )
    for verb in VERBS:
        hits.add_metric([verb], memo.stats.hits[verb])
        misses.add_metric([verb], memo.stats.misses[verb])
    yield from (hits, misses)
    yield GaugeMetricFamily(
        "nimdoctor_extender_answer_cache_bytes",
        "Bytes of requests and answers kept (bounded by --answer-cache).",
        memo.bytes_kept,
    )


class ExtenderMetrics:
    """The metrics of one extender process, in their own registry."""

    def __init__(
        self,
        cache: ReportCache,
        clock: Callable[[], float] = time.time,
        faults: Faults | None = None,
        claims: ClaimCache | None = None,
        memo: AnswerCache | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "nimdoctor_extender_requests",
            "Scheduler calls answered, by verb.",
            ["verb"],
            registry=self.registry,
        )
        self.failures = Counter(
            "nimdoctor_extender_request_failures",
            "Scheduler calls answered with anything but 200 (bad input, cache not synced, internal error), "
            "by verb.",
            ["verb"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "nimdoctor_extender_request_duration_seconds",
            "Time to answer a scheduler call, from the first byte of the body to the answer, by verb.",
            ["verb"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.rejected = Counter(
            "nimdoctor_extender_nodes_rejected",
            "Nodes rejected for a NIM pod, by the check that rejected them (pod: the pod's own spec).",
            ["check"],
            registry=self.registry,
        )
        self.claim_pods = Counter(
            "nimdoctor_extender_claim_pods",
            "Filter calls for NIM pods whose GPUs come from resource claims, by how their GPU count was "
            "known (count; all: every GPU of the node; unknown: each node judged with all its GPUs as the "
            "upper bound).",
            ["count"],
            registry=self.registry,
        )
        self.unevaluated_selectors = Counter(
            "nimdoctor_extender_claim_selectors_unevaluated",
            "Filter calls for DRA pods whose claim selectors hold expressions nimdoctor did not evaluate "
            "(kube-scheduler's DynamicResources plugin still enforces them).",
            registry=self.registry,
        )
        for mode in CLAIM_MODES:
            self.claim_pods.labels(mode)
        # Children resolved once: the hot path does no label lookups.
        self._by_verb = {
            verb: (self.requests.labels(verb), self.duration.labels(verb), self.failures.labels(verb))
            for verb in VERBS
        }
        for check in (*PRECEDENCE, "pod"):
            self.rejected.labels(check)
        self.registry.register(_CacheCollector(cache, clock, faults or Faults(), claims, memo))

    def observe(self, verb: str, seconds: float, ok: bool) -> None:
        """Count one answered call."""
        requests, duration, failures = self._by_verb[verb]
        requests.inc()
        duration.observe(seconds)
        if not ok:
            failures.inc()

    def count_rejections(self, by_check: Mapping[str, int]) -> None:
        """Add one filter answer's rejections."""
        for check, count in by_check.items():
            self.rejected.labels(check).inc(count)

    def count_answer(self, tally: Tally) -> None:
        """Count what one answer served adds: its rejections and, for a DRA pod, its claim mode."""
        self.count_rejections(tally.rejected_by_check)
        self.count_claims(tally.claims, tally.unevaluable)

    def count_claims(self, mode: str | None, unevaluable: bool) -> None:
        """Count one filter call for a DRA pod (`mode` None: not one)."""
        if mode is None:
            return
        self.claim_pods.labels(mode).inc()
        if unevaluable:
            self.unevaluated_selectors.inc()

    def exposition(self) -> bytes:
        """The text exposition for GET /metrics."""
        return generate_latest(self.registry)
