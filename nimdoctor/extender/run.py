"""One extender process put together: the report source, the cache, the decider, the apps and the servers."""

from __future__ import annotations

import socket
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nimdoctor.catalog import Catalog
from nimdoctor.cluster.client import ClusterConfigError, require_api_client
from nimdoctor.cluster.watch import ListWatch, cluster_lister, nodereport_lister
from nimdoctor.extender.answers import DEFAULT_MAX_BYTES, AnswerCache
from nimdoctor.extender.app import MAX_BODY, Webhook
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.claims import GROUP as CLAIM_GROUP
from nimdoctor.extender.claims import PLURALS, ClaimCache
from nimdoctor.extender.claims import VERSION as CLAIM_VERSION
from nimdoctor.extender.decide import Decider
from nimdoctor.extender.faults import Faults
from nimdoctor.extender.metrics import ExtenderMetrics
from nimdoctor.extender.reports import ReportFileError, load_reports
from nimdoctor.extender.serve import METRICS_LIMITS, WEBHOOK_LIMITS, Servers, Tls, serve


def _alive(watch: ListWatch | None) -> Callable[[], bool]:
    if watch is None:
        return lambda: True
    return lambda: watch.alive


class ExtenderSetupError(ValueError):
    """Reports or credentials that cannot be used (a usage or input error)."""


@dataclass
class Extender:
    """The parts of a running extender; `watch` is None when the reports came from files. `claims` (with
    its `claim_watches`) holds the resource claims of DRA pods when watching a cluster."""

    cache: ReportCache
    decider: Decider
    metrics: ExtenderMetrics
    webhook: Webhook
    watch: ListWatch | None
    claims: ClaimCache | None = None
    claim_watches: tuple[ListWatch, ...] = ()

    @classmethod
    def create(
        cls,
        catalog: Catalog,
        *,
        reports: Path | None,
        kubeconfig: Path | None,
        stale_after: float | None,
        admit_missing: bool = False,
        max_body: int = MAX_BODY,
        trust_simulated: bool = False,
        answer_cache_bytes: int = DEFAULT_MAX_BYTES,
    ) -> Extender:
        """Load report files (synced at once) or prepare the NodeReport watch (synced after its first list).

        Raises `ExtenderSetupError` for an unreadable report file or missing cluster credentials.
        """
        cache = ReportCache(stale_after, trust_simulated=trust_simulated)
        watch = None
        claims: ClaimCache | None = None
        claim_watches: tuple[ListWatch, ...] = ()
        if reports is not None:
            try:
                loaded = load_reports(reports, trust_simulated=trust_simulated)
                cache.replace(loaded.records, loaded.unusable)
            except ReportFileError as exc:
                raise ExtenderSetupError(str(exc)) from exc
        else:
            try:
                client = require_api_client(
                    kubeconfig, "run in a pod, give --kubeconfig, or read --reports files"
                )
            except ClusterConfigError as exc:
                raise ExtenderSetupError(str(exc)) from exc
            watch = ListWatch(
                nodereport_lister(client), cache.apply_list, cache.apply_event, name="nodereport-watch"
            )
            claims = ClaimCache()
            claim_watches = claim_watches_of(client, claims)
        return cls.assemble(
            cache,
            catalog,
            admit_missing=admit_missing,
            max_body=max_body,
            watch=watch,
            claims=claims,
            claim_watches=claim_watches,
            answer_cache_bytes=answer_cache_bytes,
        )

    @classmethod
    def assemble(
        cls,
        cache: ReportCache,
        catalog: Catalog,
        *,
        admit_missing: bool = False,
        max_body: int = MAX_BODY,
        watch: ListWatch | None = None,
        claims: ClaimCache | None = None,
        claim_watches: tuple[ListWatch, ...] = (),
        answer_cache_bytes: int = DEFAULT_MAX_BYTES,
    ) -> Extender:
        """The decider, metrics and webhook over `cache` (filled by `watch`, or by the caller) and `claims`
        (filled by `claim_watches`, or by the caller; None: every DRA pod's GPU count is unknown); encoded
        answers kept up to `answer_cache_bytes` (0: none)."""
        faults = Faults()
        lookup = claims.lookup if claims is not None else None
        decider = Decider(cache, catalog, admit_missing=admit_missing, faults=faults, claims=lookup)
        memo = None
        if answer_cache_bytes > 0:

            def inputs() -> Hashable:
                # What answers depend on besides the reports: the policy and the resource claims seen.
                return decider.admit_missing, claims.generation if claims is not None else None

            memo = AnswerCache(cache, max_bytes=answer_cache_bytes, inputs=inputs, clock=decider.clock)
        metrics = ExtenderMetrics(cache, faults=faults, claims=claims, memo=memo)
        webhook = Webhook(
            decider, cache, metrics, max_body=max_body, healthy=_alive(watch), faults=faults, memo=memo
        )
        return cls(cache, decider, metrics, webhook, watch, claims, claim_watches)

    def servers(self, listen: socket.socket, metrics_listen: socket.socket, tls: Tls | None) -> Servers:
        """The webhook on `listen` (over TLS when given) and the metrics app on `metrics_listen`."""
        webhook = self.webhook
        return Servers(
            [
                (webhook.app(), listen, WEBHOOK_LIMITS, tls),
                (webhook.metrics_app(), metrics_listen, METRICS_LIMITS, None),
            ]
        )

    def run(self, listen: socket.socket, metrics_listen: socket.socket, tls: Tls | None) -> int:
        """Start the watch, serve until a signal, stop the watch; returns the exit code."""
        self.start_watches()
        try:
            return serve(self.servers(listen, metrics_listen, tls))
        finally:
            self.stop_watches()

    def start_watches(self) -> None:
        """Start the NodeReport watch and the claim watches (those there are)."""
        for watch in self._watches():
            watch.start()

    def stop_watches(self) -> None:
        """Stop every watch."""
        for watch in self._watches():
            watch.stop()

    def _watches(self) -> list[ListWatch]:
        return [*([self.watch] if self.watch is not None else []), *self.claim_watches]


def claim_watches_of(api_client: Any, claims: ClaimCache) -> tuple[ListWatch, ...]:
    """A list+watch of ResourceClaimTemplates and one of ResourceClaims (all namespaces) into `claims`."""
    watches = []
    for kind, plural in PLURALS.items():
        on_list, on_event = claims.handlers(kind)
        lister = cluster_lister(api_client, CLAIM_GROUP, CLAIM_VERSION, plural)
        watches.append(ListWatch(lister, on_list, on_event, name=f"{plural}-watch"))
    return tuple(watches)
