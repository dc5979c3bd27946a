"""Node reports in memory, shaped for the filter's hot loop.

Readers (the event loop answering the scheduler) take `cache.snapshot` once per request and never lock: a
snapshot is never changed after it is published. The one writer (the watch thread, or the file loader at
start) builds a new snapshot per change and publishes it with one attribute assignment. At 5,000 nodes that
costs about 0.25 ms for a heartbeat and 0.6 ms for a change of shape, and reports change a few times a
second (a heartbeat per node every 5 minutes): cheaper than any lock on the hot path.

Nodes come in a few shapes: capabilities are interned, so a snapshot holds each distinct `Capabilities`
value once (`shapes`) and every node points at its shape by index. The filter judges each shape once per
pod, then looks nodes up.

Reports are validated where they enter (`parse_node_document`). A report that fails validation, or a
simulated one (unless `trust_simulated`), is kept apart as *unusable* with the reason: the filter answers its
node by the `--on-missing-report` policy and names the reason; no shape is ever built from it. Each such
report is logged once per node and cause, and counted (`refused`), however often the watch repeats it.
"""

from __future__ import annotations

import logging
import math
import operator
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from nimdoctor.cluster.nodereport import NodeRecord, NodeReportError, Unusable, distrust, read_usable
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


_NONE: Mapping[str, Unusable] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An immutable view of every cached report.

    `shape_of` maps node names straight to shape indexes (the filter's one lookup per node);
    `next_expiry` is the earliest time any report goes stale, so that until then nobody checks;
    `unusable` holds the nodes whose report is not used, and why (never also in `nodes`). `generation` changes
    with every change that can change an answer: any report's content, a node added, removed or unusable, a
    stale report revived by its heartbeat, a heartbeat older than the last; not with a newer heartbeat of a
    fresh report (going stale by time is for readers to check against the expiries).
    """

    nodes: Mapping[str, Entry]
    shape_of: Mapping[str, int]
    shapes: tuple[Capabilities, ...]
    next_expiry: float
    unusable: Mapping[str, Unusable]
    generation: int

    @classmethod
    def of(
        cls,
        nodes: Mapping[str, Entry],
        shapes: tuple[Capabilities, ...],
        shape_of: Mapping[str, int] | None = None,
        unusable: Mapping[str, Unusable] = _NONE,
        generation: int = 0,
    ) -> Snapshot:
        """A snapshot of `nodes`, with its earliest expiry and lookup map (`shape_of` when it is unchanged:
        readers key their memos on its identity, so it must be new whenever `unusable` changes)."""
        if shape_of is None:
            shape_of = {name: entry.shape for name, entry in nodes.items()}
        next_expiry = min(map(_EXPIRES, nodes.values()), default=math.inf)
        return cls(nodes, shape_of, shapes, next_expiry, unusable, generation)

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
    unusable: Mapping[str, int]  # nodes whose report is not used, by `Unusable.kind`


class ReportCache:
    """Reports by node name. `stale_after` seconds after its last heartbeat a report counts as stale;
    None: never (reports loaded from files, unless asked otherwise). Simulated reports are used only
    under `trust_simulated` (demos and tests)."""

    def __init__(
        self,
        stale_after: float | None,
        *,
        trust_simulated: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stale_after = stale_after
        self.trust_simulated = trust_simulated
        self.clock = clock  # epoch seconds: whether a heartbeat revives a stale report
        self.snapshot = Snapshot.of({}, ())
        self.refused: Counter[str] = Counter()  # unusable reports seen, by kind (each node and cause once)
        self._synced = threading.Event()
        self._write = threading.Lock()
        self._told: dict[str, Unusable] = {}  # what was last logged per node, so it is logged once

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

    def _untrusted(self, record: NodeRecord) -> Unusable | None:
        return distrust(record, trust_simulated=self.trust_simulated)

    def _tell(self, node: str, why: Unusable | None) -> None:
        """Log and count an unusable report once per node and cause; forget a node that is fine again."""
        if why is None:
            self._told.pop(node, None)
            return
        if self._told.get(node) == why:
            return
        self._told[node] = why
        self.refused[why.kind] += 1
        log.warning("NodeReport %r not used (its node counts as unknown): %s: %s", node, why.kind, why.detail)

    def replace(self, records: Iterable[NodeRecord], refused: Mapping[str, Unusable] | None = None) -> None:
        """Publish exactly these reports, and the `refused` ones (node -> why) as unusable, after a full list
        or a file load; mark the cache synced."""
        with self._write:
            shapes: dict[Capabilities, int] = {}
            nodes: dict[str, Entry] = {}
            unusable = dict(refused or {})
            for record in records:
                why = self._untrusted(record)
                if why is None:
                    nodes[record.node] = self._entry(record, shapes)
                else:
                    unusable[record.node] = why
            for node in self._told.keys() - unusable.keys():
                self._tell(node, None)
            for node, why in unusable.items():
                self._tell(node, why)
            generation = self.snapshot.generation + 1
            self.snapshot = Snapshot.of(nodes, tuple(shapes), None, MappingProxyType(unusable), generation)
        self._synced.set()

    def put(self, record: NodeRecord) -> None:
        """Add or update one node's report."""
        why = self._untrusted(record)
        if why is not None:
            self.refuse(record.node, why)
            return
        with self._write:
            self._tell(record.node, None)
            current = self.snapshot
            shapes = {caps: index for index, caps in enumerate(current.shapes)}
            nodes = dict(current.nodes)
            previous = nodes.get(record.node)
            entry = nodes[record.node] = self._entry(record, shapes)
            if len(shapes) == len(current.shapes) and current.shape_of.get(record.node) == entry.shape:
                # A heartbeat: same node, same shape, only the time moved. Answers change if the report
                # was stale until now, or if its expiry moved earlier (an older heartbeat: it may be stale
                # now, and readers bound kept answers by the expiries they saw).
                moved = (
                    previous is None or previous.expires < self.clock() or entry.expires < previous.expires
                )
                generation = current.generation + moved
                self.snapshot = Snapshot.of(
                    nodes, current.shapes, current.shape_of, current.unusable, generation
                )
            else:
                self._publish(nodes, shapes, _without(current.unusable, record.node))

    def refuse(self, node: str, why: Unusable) -> None:
        """Hold `node`'s report as unusable: its node is answered by the policy, with `why`."""
        with self._write:
            self._tell(node, why)
            current = self.snapshot
            if current.unusable.get(node) == why:
                return
            nodes = {name: entry for name, entry in current.nodes.items() if name != node}
            shapes = {caps: index for index, caps in enumerate(current.shapes)}
            self._publish(nodes, shapes, MappingProxyType({**current.unusable, node: why}))

    def remove(self, node: str) -> None:
        """Forget one node's report (its NodeReport was deleted)."""
        with self._write:
            self._tell(node, None)
            current = self.snapshot
            if node not in current.nodes and node not in current.unusable:
                return
            nodes = {name: entry for name, entry in current.nodes.items() if name != node}
            shapes = {caps: index for index, caps in enumerate(current.shapes)}
            self._publish(nodes, shapes, _without(current.unusable, node))

    def _publish(
        self, nodes: dict[str, Entry], shapes: dict[Capabilities, int], unusable: Mapping[str, Unusable]
    ) -> None:
        if len(shapes) > _COMPACT_AT:
            order = list(shapes)
            live: dict[Capabilities, int] = {}
            nodes = {
                name: entry._replace(shape=live.setdefault(order[entry.shape], len(live)))
                for name, entry in nodes.items()
            }
            shapes = live
        self.snapshot = Snapshot.of(nodes, tuple(shapes), None, unusable, self.snapshot.generation + 1)

    def stats(self, now: float) -> CacheStats:
        """Counts for the metrics: reports cached, stale, and the age of the oldest."""
        snapshot = self.snapshot
        entries = snapshot.nodes.values()
        stale = len(snapshot.stale(now))
        seen = [e.seen for e in entries if e.seen is not None]
        unusable: Counter[str] = Counter(why.kind for why in snapshot.unusable.values())
        return CacheStats(len(entries), stale, max(0.0, now - min(seen)) if seen else 0.0, unusable)

    def _read(self, obj: Mapping[str, Any]) -> NodeRecord | tuple[str, Unusable] | None:
        """A usable record, (node, why not) for an unusable one, or None (logged) when not even the node can
        be told."""
        try:
            node, read = read_usable(obj, trust_simulated=self.trust_simulated)
        except NodeReportError as exc:
            log.warning("NodeReport %r left out: %s", _name(obj), exc)
            return None
        return read if isinstance(read, NodeRecord) else (node, read)

    # --- the watch's callbacks: NodeReport objects as the API returns them ---

    def apply_list(self, items: list[Mapping[str, Any]]) -> None:
        """A full list of NodeReports; invalid ones are held as unusable, unreadable ones left out (logged),
        never fatal."""
        records: list[NodeRecord] = []
        refused: dict[str, Unusable] = {}
        for item in items:
            read = self._read(item)
            if isinstance(read, NodeRecord):
                records.append(read)
            elif read is not None:
                refused[read[0]] = read[1]
        self.replace(records, refused)

    def apply_event(self, kind: str, obj: Mapping[str, Any]) -> None:
        """One watch event. A report that can no longer be read counts as no report; an invalid one as an
        unusable one."""
        if kind == "DELETED":
            name = _name(obj)
            if name is not None:
                self.remove(name)
            return
        read = self._read(obj)
        if isinstance(read, NodeRecord):
            self.put(read)
        elif read is not None:
            self.refuse(*read)
        else:
            name = _name(obj)
            if name is not None:
                self.remove(name)


def _without(unusable: Mapping[str, Unusable], node: str) -> Mapping[str, Unusable]:
    if node not in unusable:
        return unusable
    return MappingProxyType({name: why for name, why in unusable.items() if name != node})


def _name(obj: Mapping[str, Any]) -> str | None:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) else None
