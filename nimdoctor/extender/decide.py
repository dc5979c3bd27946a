"""Filter and prioritize, answered from the report cache: pure computation, no I/O, no waiting.

Filter, per candidate node:
- not a NIM pod, or no GPU asked for (`nvidia.com/gpu`, a MIG device, or a GPU in its resource claims):
  every node passes, untouched;
- the pod's requirement cannot be read (its spec contradicts itself): every node is rejected with the
  problem, so the pod's event says what to fix in the pod;
- no report for the node, a stale one, or one that is not used (invalid, or simulated without
  `--trust-simulated`): the `--on-missing-report` policy (reject with NIM-FIT-008 naming why, or admit);
- otherwise `placement.fit`: a fit (warnings allowed) passes; a misfit is rejected with its first failing
  reason (`<check id> <short text>`, the same words on every node that fails the same way); an unknown fit
  (`Verdict.fits is None`) goes by the same policy as a missing report.

Judging one node shape can never fail the request for the others: an unexpected exception there is
counted and logged (`Faults`) and costs only the nodes of that shape an unknown answer (the same policy).

Rejections go in `FailedAndUnresolvableNodes`: evicting pods (preemption) cannot fix any of them.

A pod whose GPUs come from DRA resource claims is judged the same way, with the count its claims give
(`ClaimCache`). Where that count depends on the node (`allocationMode: All`) or is unknown (a template not
yet seen; no claim cache with `--reports`), each node is judged with its own GPUs (`placement.fit_claimed`:
all of them, or at most all of them for an unknown count) and an unknown count is logged and counted.

Speed: the fit is evaluated once per distinct node shape and pod requirement, and turned into a table from
node name to answer, kept while the cache's nodes and shapes stay the same (a heartbeat that changes only a
report's time keeps them). A request is then a handful of passes over its node names, each in C (`map`,
`compress`, `dict`): at 5,000 nodes a Python loop body per node would cost more than all the rest.
"""

from __future__ import annotations

import functools
import logging
import math
import operator
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import compress
from typing import Any, Generic, NamedTuple, TypeVar

import msgspec

from nimdoctor.catalog import Catalog
from nimdoctor.cluster.nodereport import Unusable
from nimdoctor.extender.cache import ReportCache, Snapshot
from nimdoctor.extender.faults import Faults
from nimdoctor.extender.pods import judged
from nimdoctor.extender.protocol import Candidates, HostPriority
from nimdoctor.extender.scoring import score
from nimdoctor.placement import (
    NoGpuRequested,
    RequirementError,
    Verdict,
    first_failure,
    fit,
    fit_claimed,
    requirement_from_pod,
)
from nimdoctor.placement.dra import ClaimLookup
from nimdoctor.report import Capabilities, Requirement
from nimdoctor.sanitize import clean_line

log = logging.getLogger(__name__)

NOT_READY_ID = "NIM-FIT-008"
MISSING = f"{NOT_READY_ID} no nimdoctor report for this node; run the nimdoctor agent there"
STALE = f"{NOT_READY_ID} the node's nimdoctor report is stale; check the nimdoctor agent there"
UNKNOWN = f"{NOT_READY_ID} fit unknown: the node's report lacks a capability the model needs"
UNJUDGED = f"{NOT_READY_ID} fit unknown: nimdoctor failed to judge this node; see the extender's log"
SIMULATED = (
    f"{NOT_READY_ID} the node's nimdoctor report is simulated, not measured; run the nimdoctor agent there "
    "without --simulate"
)
POD_CHECK = "pod"  # the `check` label of rejections caused by the pod itself
MAX_REASON = 300  # characters: the scheduler's event is cut at 1024 bytes
# Answer tables kept, one per pod requirement (distinct models and layouts being scheduled at once).
MAX_TABLES = 16


def clean_reason(text: str) -> str:
    """A reason the scheduler can show: no `%` (it is used as a format string), one line, bounded."""
    text = " ".join(text.replace("%", " percent").split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


def unusable_reason(why: Unusable) -> str:
    """The rejection of a node whose report is not used: simulated, or invalid (naming the field)."""
    if why.kind == "simulated":
        return SIMULATED
    detail = f"the node's nimdoctor report is invalid ({why.detail}); check the nimdoctor agent there"
    return clean_reason(f"{NOT_READY_ID} {detail}")


def rejection(verdict: Verdict, *, admit_unknown: bool) -> str | None:
    """The reason a node is rejected for, or None to admit it.

    A fit admits (warnings ride along); a misfit is rejected with its first failing reason; an unknown fit
    (`fits` None) is admitted under `admit_unknown`, else rejected with the reason that made it unknown.
    """
    if verdict.fits is True:
        return None
    if verdict.fits is None and admit_unknown:
        return None
    failure = first_failure(verdict.reasons)
    return clean_reason(failure.short if failure is not None else UNKNOWN)


@dataclass
class Outcome:
    """A filter answer before encoding, and the rejections counted by check id (for the metrics); for a pod
    whose GPUs come from resource claims, how their count was known and whether a selector went unread."""

    survivors: list[str]
    failed: dict[str, str]
    rejected_by_check: dict[str, int] = field(default_factory=dict)
    claims: str | None = None  # count | all | unknown
    unevaluable: bool = False


@dataclass(frozen=True)
class PerNode:
    """A DRA pod whose GPU count depends on the node (`base.claims` all or unknown): `at(gpus)` is its
    requirement with that many GPUs on offer. Equal and hashed by `base` and `pod`, the canonical bytes of
    every pod field `at` reads: `base` alone does not fix `at` (a pod that pins TP 1 and one that leaves it
    open have the same base, but judged on an 8-GPU node the second asks for 8)."""

    base: Requirement
    pod: bytes
    at: Callable[[int], Requirement] = field(compare=False, hash=False, repr=False)


Need = Requirement | PerNode


class Question(NamedTuple):
    """What the answers about one pod depend on, besides the candidates and the cache's state: its `need`
    (None: left alone; a string: the reason every node is rejected for), and `key`, equal for two pods
    exactly when their answers are (type-exact bytes of the need: `70` and `70.0` are equal in Python
    but print differently in a reason)."""

    need: Need | str | None
    key: Hashable


_ENCODE = msgspec.json.Encoder()


def read_fields(pod: Mapping[str, Any]) -> bytes:
    """Canonical bytes of what `requirement_from_pod` reads of a pod besides its name (which only errors
    name): namespace, labels and annotations, and the spec's containers and claims."""
    metadata = pod.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    spec = pod.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    read = [metadata.get(key) for key in ("namespace", "labels", "annotations")]
    read += [spec.get(key) for key in ("containers", "initContainers", "resourceClaims")]
    return _ENCODE.encode(read)


def key_of(need: Need | str | None) -> Hashable:
    """The `Question.key` of a need."""
    if need is None or isinstance(need, str):
        return need
    if isinstance(need, PerNode):
        return ("per-node", _ENCODE.encode(need.base), need.pod)
    return _ENCODE.encode(need)


# Cautions already logged, by (pod, text): a pod retried by the scheduler is not logged on every attempt.
MAX_SAID = 1024
UNKNOWN_COUNT = (
    "GPU count of its resource claims unknown: each node judged with all its GPUs as the upper bound"
)


_V = TypeVar("_V")


class _Table(dict[str, _V], Generic[_V]):
    """Node name -> answer; a node the table does not hold gets `absent` (a node without a report)."""

    __slots__ = ("absent",)

    def __init__(self, items: Iterable[tuple[str, _V]], absent: _V) -> None:
        super().__init__(items)
        self.absent = absent

    def __missing__(self, key: str) -> _V:
        return self.absent


@dataclass
class _Tables:
    """The answers of one requirement for one snapshot's nodes: the filter's reason per node ("" admits)
    and the score per node, right from `since` until `until` (when the next report goes stale)."""

    requirement: Need
    snapshot: Snapshot
    reasons: _Table[str]
    scores: _Table[int]
    since: float
    until: float
    any_stale: bool
    rejections: tuple[str, ...]  # every distinct reason `reasons` can answer

    def still_right(self, requirement: Need, snapshot: Snapshot, now: float) -> bool:
        """Whether these tables answer `requirement` on `snapshot` at `now`: the same snapshot within the
        time window, or a newer one whose nodes and shapes are the same and in which nothing is stale
        (a heartbeat only moves a report's time)."""
        if not self.since <= now:
            return False
        if snapshot is self.snapshot:
            same = now <= self.until
        else:
            same = (
                snapshot.shape_of is self.snapshot.shape_of
                and snapshot.shapes is self.snapshot.shapes
                and not self.any_stale
                and now <= snapshot.next_expiry
            )
        return same and requirement == self.requirement


class Decider:
    """Answers filter and prioritize for `cache`'s reports with the placement `catalog`.

    `admit_missing` is the `--on-missing-report=admit` policy; `clock` gives epoch seconds (for staleness);
    `faults` counts and logs what raised while judging a node; `claims` looks up resource claims for DRA pods
    (None: none known, every DRA pod's count is unknown).
    """

    def __init__(
        self,
        cache: ReportCache,
        catalog: Catalog,
        *,
        admit_missing: bool = False,
        clock: Callable[[], float] = time.time,
        faults: Faults | None = None,
        claims: ClaimLookup | None = None,
    ) -> None:
        self.cache = cache
        self.catalog = catalog
        self.admit_missing = admit_missing
        self.clock = clock
        self.faults = faults or Faults()
        self.claims = claims
        self._tables_by_requirement: dict[Need, _Tables] = {}
        self._said: OrderedDict[tuple[str, str], None] = OrderedDict()

    def question(self, pod: dict[str, Any]) -> Question:
        """What the answers about `pod` depend on (see `Question`)."""
        need = self.requirement(pod)
        return Question(need, key_of(need))

    def requirement(self, pod: dict[str, Any]) -> Need | str | None:
        """What the pod needs; None when the extender leaves the pod alone; a reason when it cannot say."""
        if not judged(pod):
            return None
        try:
            requirement = requirement_from_pod(pod, self.catalog, claims=self.claims)
        except NoGpuRequested:
            return None
        except RequirementError as exc:
            return clean_reason(f"nimdoctor: {exc}")
        if requirement.claims in ("all", "unknown"):
            at = functools.partial(requirement_from_pod, pod, self.catalog, claims=self.claims)
            return PerNode(requirement, read_fields(pod), lambda gpus: at(node_gpus=gpus))
        return requirement

    def caution(self, pod: dict[str, Any], need: Need | str | None) -> tuple[str | None, bool]:
        """Log (once per pod and text) what was not known of a DRA pod's claims; return the claims mode and
        whether a selector went unread, for the metrics. Called for kept answers too: each pod is logged."""
        if need is None or isinstance(need, str):
            return None, False
        requirement = need.base if isinstance(need, PerNode) else need
        if requirement.claims is None:
            return None, False
        metadata = pod.get("metadata")
        metadata = metadata if isinstance(metadata, Mapping) else {}
        name = clean_line(f"{metadata.get('namespace')}/{metadata.get('name')}")
        said = [
            f"claim selector not evaluated by nimdoctor: {text}" for text in requirement.claim_unevaluable
        ]
        if requirement.claims == "unknown":
            said.append(UNKNOWN_COUNT)
        for text in said:
            key = (str(metadata.get("uid") or name), text)
            if key not in self._said:
                log.info("pod %s: %s", name, text)
                self._said[key] = None
                if len(self._said) > MAX_SAID:
                    self._said.popitem(last=False)
        return requirement.claims, bool(requirement.claim_unevaluable)

    def _tables(self, requirement: Need) -> _Tables:
        """The answer tables for `requirement` and the cache as it is now (reused while still right)."""
        snapshot = self.cache.snapshot
        now = self.clock()
        known = self._tables_by_requirement
        found = known.get(requirement)
        if found is not None and found.still_right(requirement, snapshot, now):
            return found
        if len(known) >= MAX_TABLES:
            known.clear()
        found = known[requirement] = self._build(requirement, snapshot, now)
        return found

    def _judge(self, capabilities: Capabilities, requirement: Need) -> tuple[str, int]:
        """One shape's reason ("" admits) and score; an exception costs only this shape an unknown. A DRA pod
        whose count depends on the node is judged with the GPUs this shape offers (`fit_claimed`)."""
        try:
            if isinstance(requirement, PerNode):
                served, verdict = fit_claimed(capabilities, requirement.base, requirement.at, self.catalog)
            else:
                served, verdict = requirement, fit(capabilities, requirement, self.catalog)
            return rejection(verdict, admit_unknown=self.admit_missing) or "", score(
                capabilities, served, verdict
            )
        except Exception as exc:  # a bug must cost its own nodes, never the answer for the others
            self.faults.record("judge", exc)
            return ("" if self.admit_missing else UNJUDGED), 0

    def _build(self, requirement: Need, snapshot: Snapshot, now: float) -> _Tables:
        judged_shapes = [self._judge(caps, requirement) for caps in snapshot.shapes]
        reason_of = [reason for reason, _ in judged_shapes]
        score_of = [points for _, points in judged_shapes]
        shape_of = snapshot.shape_of
        reasons = _Table(zip(shape_of, map(reason_of.__getitem__, shape_of.values()), strict=True), MISSING)
        scores = _Table(zip(shape_of, map(score_of.__getitem__, shape_of.values()), strict=True), 0)
        stale = snapshot.stale(now)
        reasons.update(dict.fromkeys(stale, STALE))
        scores.update(dict.fromkeys(stale, 0))
        unusable = {name: unusable_reason(why) for name, why in snapshot.unusable.items()}
        reasons.update(unusable)
        if self.admit_missing:
            reasons.absent = ""
            reasons.update(dict.fromkeys(stale, ""))
            reasons.update(dict.fromkeys(unusable, ""))
        until = min((e.expires for e in snapshot.nodes.values() if e.expires >= now), default=math.inf)
        possible = {
            *reason_of,
            reasons.absent,
            *(reasons[name] for name in stale[:1]),
            *(reasons[name] for name in unusable),
        }
        possible.discard("")
        return _Tables(requirement, snapshot, reasons, scores, now, until, bool(stale), tuple(possible))

    def filter(self, candidates: Candidates, question: Question | None = None) -> Outcome:
        """The filter decision for every candidate node, in order (`question`: the pod's, if known)."""
        names = candidates.names
        need = question.need if question is not None else self.requirement(candidates.pod)
        if need is None:
            return Outcome(survivors=names, failed={})
        if isinstance(need, str):
            everyone = dict.fromkeys(names, need)
            return Outcome(survivors=[], failed=everyone, rejected_by_check={POD_CHECK: len(everyone)})
        claims, unevaluable = self.caution(candidates.pod, need)
        tables = self._tables(need)
        answers = list(map(tables.reasons.__getitem__, names))
        if not any(answers):
            return Outcome(survivors=names, failed={}, claims=claims, unevaluable=unevaluable)
        survivors = list(compress(names, map(operator.not_, answers)))
        failed = dict(zip(compress(names, answers), filter(None, answers), strict=True))
        by_check: dict[str, int] = {}
        for reason in tables.rejections:
            # The answers hold the table's own string objects: count() matches them by identity, in C.
            count = answers.count(reason)
            if count:
                check = reason.split(" ", 1)[0]  # every reason here starts with its check id
                by_check[check] = by_check.get(check, 0) + count
        return Outcome(survivors, failed, by_check, claims, unevaluable)

    def prioritize(self, candidates: Candidates, question: Question | None = None) -> list[HostPriority]:
        """Scores 0-10 for every candidate node (see `scoring`); 0 for pods the extender leaves alone."""
        names = candidates.names
        need = question.need if question is not None else self.requirement(candidates.pod)
        if need is None or isinstance(need, str):
            return [HostPriority(host=name, score=0) for name in names]
        return list(map(HostPriority, names, map(self._tables(need).scores.__getitem__, names)))
