"""List then watch a Kubernetes resource in a background thread, the way client-go's informers do.

A full list (in pages) hands the caller every object and a resourceVersion; a watch from that version then
streams ADDED/MODIFIED/DELETED events. When a watch ends (the server's timeout) it resumes from the last
version seen; `410 Gone` (the version has been compacted away) or a list without a version starts over with a
fresh list. Every other failure (API down, forbidden, a broken stream) waits a capped exponential backoff with
jitter and tries again, so thousands of watchers do not reconnect in lockstep. The thread never dies of an
error; only `stop()` ends it.

`kubernetes` is imported only when a watcher starts.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nimdoctor.cluster.limits import paginate
from nimdoctor.cluster.nodereport import GROUP, PLURAL, VERSION

log = logging.getLogger(__name__)

GONE = 410


@dataclass
class WatchStats:
    """What the watcher has done so far (for tests and logs)."""

    lists: int = 0
    relists_after_gone: int = 0
    watches: int = 0
    events: int = 0
    errors: int = 0
    last_error: str | None = None


@dataclass
class ListWatch:
    """List+watch `list_fn` (an official-client list call, e.g. `list_cluster_custom_object` with its
    group/version/plural bound) and hand the results to `on_list` (every object, after each full list) and
    `on_event` (type and object, for each watch event).

    `watch_timeout` is the server-side watch timeout in seconds; the client gives up on a silent connection
    `read_grace` seconds after it. Backoff after a failure: `backoff_base` doubling up to `backoff_cap`
    seconds, each wait drawn between half and all of that.
    """

    list_fn: Callable[..., Any]
    on_list: Callable[[list[Mapping[str, Any]]], None]
    on_event: Callable[[str, Mapping[str, Any]], None]
    watch_timeout: int = 300
    read_grace: float = 30.0
    connect_timeout: float = 10.0
    page_size: int = 500
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    name: str = "list-watch"
    rng: random.Random = field(default_factory=random.Random)
    stats: WatchStats = field(default_factory=WatchStats)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: Any = None

    def start(self) -> None:
        """Start the background thread (a daemon: it never holds the process up)."""
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the thread is running (it only ends through `stop`)."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching: wake a backoff wait, cut the open watch connection, join the thread."""
        self._stop.set()
        current = self._watch
        if current is not None:
            current.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """The loop: list, watch until the version is gone, list again; back off on failures."""
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        failures = 0
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._list()
                    failures = 0
                started, events = time.monotonic(), self.stats.events
                version = self._watch_from(watch, version)
                if self.stats.events == events and time.monotonic() - started < 1.0:
                    # A watch the server ends at once, with nothing in it, must not spin the loop.
                    failures = self._failed(failures, "the watch ended at once")
                else:
                    failures = 0
            except ApiException as exc:
                if exc.status == GONE:
                    log.info("%s: resource version gone (410): listing again", self.name)
                    self.stats.relists_after_gone += 1
                    version = None
                    continue
                failures = self._failed(failures, f"API answered {exc.status} {exc.reason}")
            except Exception as exc:  # a broken stream, a refused connection, a bad object: retry
                if self._stop.is_set():
                    break
                failures = self._failed(failures, f"{type(exc).__name__}: {exc}")

    def _failed(self, failures: int, reason: str) -> int:
        failures += 1
        self.stats.errors += 1
        self.stats.last_error = reason
        delay = min(self.backoff_cap, self.backoff_base * 2 ** (failures - 1))
        delay = self.rng.uniform(delay / 2, delay)
        log.warning("%s: %s; retrying in %.1f s", self.name, reason, delay)
        self._stop.wait(delay)
        return failures

    def _list(self) -> str | None:
        """Every object, page by page (bounded: `limits.ListTooLong` past its caps, retried like any
        failure); returns the list's resourceVersion (None when the server gave none)."""

        def fetch(token: str | None) -> Mapping[str, Any]:
            kwargs: dict[str, Any] = {"limit": self.page_size, "_request_timeout": self._timeouts()}
            page = self.list_fn(**kwargs, **({"_continue": token} if token else {}))
            return page if isinstance(page, Mapping) else {}

        items: list[Mapping[str, Any]] = []
        metadata: Any = {}
        for page in paginate(fetch):
            items.extend(i for i in page.get("items") or [] if isinstance(i, Mapping))
            metadata = page.get("metadata")
        self.stats.lists += 1
        self.on_list(items)
        version = metadata.get("resourceVersion") if isinstance(metadata, Mapping) else None
        return version if isinstance(version, str) and version else None

    def _watch_from(self, watch: Any, version: str | None) -> str | None:
        """Stream events from `version` until the server ends the watch; returns the last version seen."""
        self.stats.watches += 1
        stream = watch.Watch()
        self._watch = stream
        try:
            for event in stream.stream(
                self.list_fn,
                resource_version=version,
                timeout_seconds=self.watch_timeout,
                allow_watch_bookmarks=True,
                _request_timeout=(self.connect_timeout, self.watch_timeout + self.read_grace),
            ):
                if self._stop.is_set():
                    break
                kind = event.get("type")
                obj = event.get("raw_object")
                if not isinstance(obj, Mapping):
                    continue
                metadata = obj.get("metadata")
                seen = metadata.get("resourceVersion") if isinstance(metadata, Mapping) else None
                if isinstance(seen, str) and seen:
                    version = seen
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    self.stats.events += 1
                    self.on_event(kind, obj)
        finally:
            self._watch = None
        return version

    def _timeouts(self) -> tuple[float, float]:
        return (self.connect_timeout, self.watch_timeout + self.read_grace)


def nodereport_lister(api_client: Any) -> Callable[..., Any]:
    """The official client's cluster-wide NodeReport list call, ready for `ListWatch`."""
    return cluster_lister(api_client, GROUP, VERSION, PLURAL)


def cluster_lister(api_client: Any, group: str, version: str, plural: str) -> Callable[..., Any]:
    """The official client's list call of `group/version/plural` across the cluster (a namespaced kind in
    every namespace), returning plain JSON objects, ready for `ListWatch`."""
    from kubernetes import client

    api = client.CustomObjectsApi(api_client)
    return functools.partial(api.list_cluster_custom_object, group, version, plural)
