"""One extender process put together: the report source, the cache, the decider, the apps and the servers."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nimdoctor.catalog import Catalog
from nimdoctor.cluster.client import ClusterConfigError, require_api_client
from nimdoctor.cluster.watch import ListWatch, nodereport_lister
from nimdoctor.extender.app import MAX_BODY, Webhook
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.decide import Decider
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
    """The parts of a running extender; `watch` is None when the reports came from files."""

    cache: ReportCache
    decider: Decider
    metrics: ExtenderMetrics
    webhook: Webhook
    watch: ListWatch | None

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
    ) -> Extender:
        """Load report files (synced at once) or prepare the NodeReport watch (synced after its first list).

        Raises `ExtenderSetupError` for an unreadable report file or missing cluster credentials.
        """
        cache = ReportCache(stale_after)
        watch = None
        if reports is not None:
            try:
                cache.replace(load_reports(reports))
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
        return cls.assemble(cache, catalog, admit_missing=admit_missing, max_body=max_body, watch=watch)

    @classmethod
    def assemble(
        cls,
        cache: ReportCache,
        catalog: Catalog,
        *,
        admit_missing: bool = False,
        max_body: int = MAX_BODY,
        watch: ListWatch | None = None,
    ) -> Extender:
        """The decider, metrics and webhook over `cache` (filled by `watch`, or by the caller)."""
        decider = Decider(cache, catalog, admit_missing=admit_missing)
        metrics = ExtenderMetrics(cache)
        webhook = Webhook(decider, cache, metrics, max_body=max_body, healthy=_alive(watch))
        return cls(cache, decider, metrics, webhook, watch)

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
        if self.watch is not None:
            self.watch.start()
        try:
            return serve(self.servers(listen, metrics_listen, tls))
        finally:
            if self.watch is not None:
                self.watch.stop()
