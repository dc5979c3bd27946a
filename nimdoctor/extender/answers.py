"""Encoded answers kept for repeated requests: kube-scheduler asks the same question again and again (the
replicas of one NIMService, every retry of a pending pod), and between two asks the report cache rarely
changes.

An answer is kept under its verb and the request body's exact bytes (no decoding on a hit), with the
tallies the metrics count per answer served (rejections by check, DRA claim modes). Every answer is valid
for one state of its inputs only: the report cache's `generation` (any report change, node added, removed or
unusable, a stale report revived) and the other inputs (the decider's policy, the resource claims seen),
until the next report goes stale by time. When any of those moves, every
kept answer is dropped at once. The cache is bounded by bytes (request plus answer); the least recently used
answers go first.
"""

from __future__ import annotations

import math
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from nimdoctor.extender.cache import ReportCache

DEFAULT_MAX_BYTES = 32 * 2**20  # about twenty 20,000-node answers with their requests
_ENTRY_OVERHEAD = 200  # bytes of bookkeeping per kept answer, roughly
_SEEN = 4096  # requests remembered (by hash) to tell a repeat; past it the memory starts over
_NOT_KEPT = object()  # the state `get` gives for a request seen for the first time: `put` keeps nothing


class Tally(NamedTuple):
    """What one answer adds to the metrics each time it is served: nodes rejected by check id, and for a
    DRA pod how its GPU count was known (`claims`: count, all, unknown) and whether a selector went unread."""

    rejected_by_check: Mapping[str, int]
    claims: str | None = None
    unevaluable: bool = False


NOTHING = Tally({})


@dataclass(frozen=True, slots=True)
class Kept:
    """One kept answer: its bytes, what it counts each time it is served, its size."""

    payload: bytes
    tally: Tally
    size: int


@dataclass
class AnswerStats:
    """Hits and misses by verb, and the bytes kept now."""

    hits: Counter[str] = field(default_factory=Counter)
    misses: Counter[str] = field(default_factory=Counter)


class AnswerCache:
    """Encoded answers by (verb, request body) for the current state of `reports` and `inputs()` (whatever
    else answers depend on, e.g. the policy and the claim cache's generation).

    `clock` gives epoch seconds, as the decider's does (a report goes stale by time).
    """

    def __init__(
        self,
        reports: ReportCache,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        inputs: Callable[[], Hashable] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.reports = reports
        self.max_bytes = max_bytes
        self.inputs = inputs
        self.clock = clock
        self.stats = AnswerStats()
        self.bytes = 0
        # Least recently used first: OrderedDict pops its oldest in O(1) (a dict slows as its front empties).
        self._kept: OrderedDict[tuple[str, bytes], Kept] = OrderedDict()
        self._state: Hashable = None  # (generation, inputs) the kept answers belong to
        self._seen: set[tuple[str, int]] = set()  # (verb, hash of the body) of requests answered once
        self._until = -math.inf  # when the next report goes stale: the kept answers expire then

    def _current(self) -> Hashable:
        """The state answers are computed for now; drops every kept answer when it moved on."""
        snapshot = self.reports.snapshot
        state = (snapshot.generation, self.inputs())
        now = self.clock()
        if state != self._state or now > self._until:
            self._kept.clear()
            self.bytes = 0
            self._state = state
            self._until = min(
                (e.expires for e in snapshot.nodes.values() if e.expires >= now), default=math.inf
            )
        return state

    def get(self, verb: str, body: bytes) -> tuple[Kept | None, Hashable]:
        """The kept answer to `body` (None on a miss), and the state a fresh answer is to be put under (one
        that keeps nothing when `body` comes for the first time)."""
        state = self._current()
        key = (verb, body)
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)  # most recently used: last in order
            self.stats.hits[verb] += 1
            return kept, state
        self.stats.misses[verb] += 1
        seen = (verb, hash(body))  # the dict lookup above has computed and cached the hash
        if seen in self._seen:
            return None, state
        if len(self._seen) >= _SEEN:
            self._seen.clear()
        self._seen.add(seen)
        return None, _NOT_KEPT

    def put(self, verb: str, body: bytes, payload: bytes, tally: Tally, state: Hashable) -> None:
        """Keep an answer computed for `state` (as `get` returned it); ignored if the state moved on since."""
        size = len(body) + len(payload) + _ENTRY_OVERHEAD
        if state != self._state or size > self.max_bytes:
            return
        key = (verb, body)
        previous = self._kept.pop(key, None)
        if previous is not None:
            self.bytes -= previous.size
        self._kept[key] = Kept(payload, tally, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            self.bytes -= self._kept.popitem(last=False)[1].size
