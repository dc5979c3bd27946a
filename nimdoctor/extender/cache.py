"""Node reports in memory, shaped for the filter's hot loop.

Readers (the event loop answering the scheduler) take `cache.snapshot` once per request and never lock: a
snapshot is never changed after it is published. The one writer (the watch thread, or the file loader at
start) builds a new snapshot per change and publishes it with one attribute assignment. At 5,000 nodes that
costs about 0.25 ms for a heartbeat and 0.6 ms for a change of shape, and reports change a few times a
second (a heartbeat per node every 5 minutes): cheaper than any lock on the hot path.

Nodes come in a few shapes: capabilities are interned, so a snapshot holds each distinct `Capabilities`
value once (`shapes`) and every node points at its shape by index. The filter judges each shape once per
pod, then looks nodes up.
"""

from __future__ import annotations

import logging
import math
import operator
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from nimdoctor.cluster.nodereport import NodeRecord, NodeReportError, parse_node_document
from nimdoctor.report import Capabilities

log = logging.getLogger(__name__)

_EXPIRES = operator.attrgetter("expires")
# Past this many shapes, unused ones are dropped (a driver upgrade across the fleet leaves the old ones).
_COMPACT_AT = 32


class Entry(NamedTuple):
    """One node in a snapshot."""

    shape: int  # index into Snapshot.shapes
    expires: float  # epoch seconds after which the report is stale (inf: never; -inf: already)
    seen: float | None  # epoch seconds of the last heartbeat or observation; None when the report has none


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An immutable view of every cached report.

    `shape_of` maps node names straight to shape indexes (the filter's one lookup per node);
    `next_expiry` is the earliest time any report goes stale, so that until then nobody checks.
    """

    nodes: Mapping[str, Entry]
    shape_of: Mapping[str, int]
    shapes: tuple[Capabilities, ...]
    next_expiry: float

    @classmethod
    def of(
        cls,
        nodes: Mapping[str, Entry],
        shapes: tuple[Capabilities, ...],
        shape_of: Mapping[str, int] | None = None,
    ) -> Snapshot:
        """A snapshot of `nodes`, with its earliest expiry and lookup map (`shape_of` when it is unchanged:
        readers key their memos on its identity)."""
        if shape_of is None:
            shape_of = {name: entry.shape for name, entry in nodes.items()}
        next_expiry = min(map(_EXPIRES, nodes.values()), default=math.inf)
        return cls(nodes, shape_of, shapes, next_expiry)

    def stale(self, now: float) -> list[str]:
        """The nodes whose report is stale at `now`."""
        if now <= self.next_expiry:
            return []
        return [name for name, entry in self.nodes.items() if entry.expires < now]


class CacheStats(NamedTuple):
    """What the metrics report about the cache."""

    cached: int
    stale: int
    oldest_age: float  # seconds; 0 with no timed report


class ReportCache:
    """Reports by node name. `stale_after` seconds after its last heartbeat a report counts as stale;
    None: never (reports loaded from files, unless asked otherwise)."""

    def __init__(self, stale_after: float | None) -> None:
        self.stale_after = stale_after
        self.snapshot = Snapshot.of({}, ())
        self._synced = threading.Event()
        self._write = threading.Lock()

    @property
    def synced(self) -> bool:
        """Whether a full set of reports has been loaded (a list, or the report files)."""
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        """Block until synced or `timeout` seconds pass; returns whether it is synced."""
        return self._synced.wait(timeout)

    def _entry(self, record: NodeRecord, shapes: dict[Capabilities, int]) -> Entry:
        last = record.heartbeat_at or record.observed_at
        seen = None if last is None else last.timestamp()
        if self.stale_after is None:
            expires = math.inf
        else:
            expires = -math.inf if seen is None else seen + self.stale_after
        shape = shapes.setdefault(record.capabilities, len(shapes))
        return Entry(shape, expires, seen)

    def replace(self, records: Iterable[NodeRecord]) -> None:
        """Publish exactly these reports (after a full list or a file load) and mark the cache synced."""
        with self._write:
            shapes: dict[Capabilities, int] = {}
            nodes = {record.node: self._entry(record, shapes) for record in records}
            self.snapshot = Snapshot.of(nodes, tuple(shapes))
        self._synced.set()

    def put(self, record: NodeRecord) -> None:
        """Add or update one node's report."""
        with self._write:
            current = self.snapshot
            shapes = {caps: index for index, caps in enumerate(current.shapes)}
            nodes = dict(current.nodes)
            entry = nodes[record.node] = self._entry(record, shapes)
            if len(shapes) == len(current.shapes) and current.shape_of.get(record.node) == entry.shape:
                # A heartbeat: same node, same shape, only the time moved.
                self.snapshot = Snapshot.of(nodes, current.shapes, current.shape_of)
            else:
                self._publish(nodes, shapes)

    def remove(self, node: str) -> None:
        """Forget one node's report (its NodeReport was deleted)."""
        with self._write:
            current = self.snapshot
            if node not in current.nodes:
                return
            nodes = dict(current.nodes)
            del nodes[node]
            self._publish(nodes, {caps: index for index, caps in enumerate(current.shapes)})

    def _publish(self, nodes: dict[str, Entry], shapes: dict[Capabilities, int]) -> None:
        if len(shapes) > _COMPACT_AT:
            order = list(shapes)
            live: dict[Capabilities, int] = {}
            nodes = {
                name: entry._replace(shape=live.setdefault(order[entry.shape], len(live)))
                for name, entry in nodes.items()
            }
            shapes = live
        self.snapshot = Snapshot.of(nodes, tuple(shapes))

    def stats(self, now: float) -> CacheStats:
        """Counts for the metrics: reports cached, stale, and the age of the oldest."""
        snapshot = self.snapshot
        entries = snapshot.nodes.values()
        stale = len(snapshot.stale(now))
        seen = [e.seen for e in entries if e.seen is not None]
        return CacheStats(len(entries), stale, max(0.0, now - min(seen)) if seen else 0.0)

    # --- the watch's callbacks: NodeReport objects as the API returns them ---

    def apply_list(self, items: list[Mapping[str, Any]]) -> None:
        """A full list of NodeReports; unreadable ones are left out (and logged), never fatal."""
        self.replace(r for r in (_read(item) for item in items) if r is not None)

    def apply_event(self, kind: str, obj: Mapping[str, Any]) -> None:
        """One watch event. A report that can no longer be read counts as no report."""
        if kind == "DELETED":
            name = _name(obj)
            if name is not None:
                self.remove(name)
            return
        record = _read(obj)
        if record is not None:
            self.put(record)
        else:
            name = _name(obj)
            if name is not None:
                self.remove(name)


def _name(obj: Mapping[str, Any]) -> str | None:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) else None


def _read(obj: Mapping[str, Any]) -> NodeRecord | None:
    try:
        return parse_node_document(obj)
    except NodeReportError as exc:
        log.warning("NodeReport %r left out: %s", _name(obj), exc)
        return None
