"""Encoded answers kept for repeated requests: kube-scheduler asks the same question again and again (the
replicas of one NIMService, every retry of a pending pod), and between two asks the report cache rarely
changes.

An answer is kept under two keys, with the tallies the metrics count per answer served (rejections by
check, DRA claim modes):
- alike: the verb, what the answer depends on of the pod (`decide.Question.key`: the type-exact bytes of
  its requirement) and the raw bytes of the candidate lists as they arrived. Replicas of one NIMService
  (other names, uids, labels the extender does not read) share it. A hit decodes the pod, not the lists.
- exact: the verb and the request body's bytes, for a body seen before (a retried pod): a hit decodes
  nothing. Alike answers are kept from their first sighting, exact ones from their second.
Every answer is valid for one state of its inputs only: the report cache's `generation` (any report change,
node added, removed or unusable, a stale report revived, an older heartbeat) and the other inputs (the
decider's policy, the resource claims seen), until the next report goes stale by time. When any of those
moves, every kept answer is dropped at once. The cache is bounded by bytes (request plus answer); the least
recently used answers go first.
"""

from __future__ import annotations

import math
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from msgspec import Raw

from nimdoctor.extender.cache import ReportCache

DEFAULT_MAX_BYTES = 32 * 2**20  # about twenty 20,000-node answers with their requests
_ENTRY_OVERHEAD = 200  # bytes of bookkeeping per kept answer, roughly
_TRIAL = 8  # answers on trial hold at most 1/_TRIAL of the bytes
_SEEN = 4096  # requests remembered (by hash) to tell a repeat; past it the memory starts over


class Tally(NamedTuple):
    """What one answer adds to the metrics each time it is served: nodes rejected by check id, and for a
    DRA pod how its GPU count was known (`claims`: count, all, unknown) and whether a selector went unread."""

    rejected_by_check: Mapping[str, int]
    claims: str | None = None
    unevaluable: bool = False


NOTHING = Tally({})


class Kept(NamedTuple):  # a tuple: made on every miss, and a dataclass costs a microsecond more
    """One kept answer: its bytes, what it counts each time it is served, its size."""

    payload: bytes
    tally: Tally
    size: int


@dataclass
class AnswerStats:
    """Hits and misses by verb, and the bytes kept now."""

    hits: Counter[str] = field(default_factory=Counter)
    misses: Counter[str] = field(default_factory=Counter)
    alike_hits: Counter[str] = field(default_factory=Counter)  # the hits by the alike key


# (verb, body) for the exact key; (verb, question key, raw Nodes, raw NodeNames) for the alike key.
# Bytes keep their hash once computed: a key is hashed in full once, then cheaply on every dict operation.
Key = tuple[str, bytes] | tuple[str, Hashable, bytes, bytes]


def exact(verb: str, body: bytes) -> Key:
    """The exact key of a request."""
    return (verb, body)


def alike(verb: str, question: Hashable, nodes: bytes | Raw, node_names: bytes | Raw) -> Key:
    """The alike key of a request (the candidate lists as their raw bytes, copied: a `Raw` is unhashable)."""
    return (verb, question, bytes(nodes), bytes(node_names))


def _size(part: object) -> int:
    """Bytes held by a key's parts (strings and bytes, within tuples too), roughly."""
    if isinstance(part, bytes | str):
        return len(part)
    if isinstance(part, tuple):
        return sum(map(_size, part))
    return 0


class _Segment:
    """Kept answers up to `bound` bytes, least recently used first (an OrderedDict pops its oldest in O(1):
    a dict slows as its front empties)."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.bytes = 0
        self.entries: OrderedDict[Key, Kept] = OrderedDict()

    def add(self, key: Key, kept: Kept) -> None:
        self.pop(key)
        self.entries[key] = kept
        self.bytes += kept.size
        while self.bytes > self.bound:
            self.bytes -= self.entries.popitem(last=False)[1].size

    def pop(self, key: Key) -> Kept | None:
        kept = self.entries.pop(key, None)
        if kept is not None:
            self.bytes -= kept.size
        return kept

    def clear(self) -> None:
        self.entries.clear()
        self.bytes = 0


class AnswerCache:
    """Encoded answers by their exact or alike key for the current state of `reports` and `inputs()`
    (whatever else answers depend on, e.g. the policy and the claim cache's generation).

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
        # Answers on trial (kept at first sight, under an alike key) get an eighth of the bytes: a stream of
        # requests that never repeat churns that little memory, not the whole cache. A hit there promotes.
        self._trial = _Segment(max_bytes // _TRIAL)
        self._kept = _Segment(max_bytes - self._trial.bound)
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
            self._trial.clear()
            self._state = state
            self._until = min(
                (e.expires for e in snapshot.nodes.values() if e.expires >= now), default=math.inf
            )
        return state

    @property
    def bytes_kept(self) -> int:
        """Bytes kept now (keys plus answers, roughly)."""
        return self._kept.bytes + self._trial.bytes

    def _hit(self, key: Key) -> Kept | None:
        kept = self._kept.entries.get(key)
        if kept is not None:
            self._kept.entries.move_to_end(key)  # most recently used: last in order
        elif (kept := self._trial.pop(key)) is not None:
            self._kept.add(key, kept)
        if kept is not None:
            self.stats.hits[key[0]] += 1
        return kept

    def get(self, key: Key) -> tuple[Kept | None, bool, Hashable]:
        """The answer kept under an `exact` key (None if none); whether its body was seen before (its answer
        is then worth keeping under it too); and the state fresh answers are to be put under."""
        state = self._current()
        kept = self._hit(key)
        if kept is not None:
            return kept, True, state
        seen = (key[0], hash(key[1]))  # the dict lookup above has computed and cached the hash
        if seen in self._seen:
            return None, True, state
        if len(self._seen) >= _SEEN:
            self._seen.clear()
        self._seen.add(seen)
        return None, False, state

    def get_alike(self, key: Key) -> Kept | None:
        """The answer kept under an alike key (None on a miss, counted)."""
        kept = self._hit(key)
        if kept is None:
            self.stats.misses[key[0]] += 1
        else:
            self.stats.alike_hits[key[0]] += 1
        return kept

    def put(self, key: Key, payload: bytes, tally: Tally, state: Hashable, *, trial: bool = False) -> None:
        """Keep an answer computed for `state` (as `get` returned it), on `trial` or not; ignored if the state
        moved on since. The size counted is the key's bytes plus the answer's, even where two keys share
        one answer; an answer larger than its segment is not kept."""
        size = len(payload) + _ENTRY_OVERHEAD + _size(key)
        segment = self._trial if trial else self._kept
        if state != self._state or size > segment.bound:
            return
        (self._kept if trial else self._trial).pop(key)
        segment.add(key, Kept(payload, tally, size))
