"""Filter and prioritize, answered from the report cache: pure computation, no I/O, no waiting.

Filter, per candidate node:
- not a NIM pod, or no GPU asked for: every node passes, untouched;
- the pod's requirement cannot be read (its spec contradicts itself): every node is rejected with the
  problem, so the pod's event says what to fix in the pod;
- no report for the node, or a stale one: the `--on-missing-report` policy (reject with NIM-FIT-008, or
  admit);
- otherwise `placement.fit`: a fit (warnings allowed) passes; a misfit is rejected with its first failing
  reason (`<check id> <short text>`, the same words on every node that fails the same way); an unknown fit
  (`Verdict.fits is None`) goes by the same policy as a missing report.

Rejections go in `FailedAndUnresolvableNodes`: evicting pods (preemption) cannot fix any of them. The fit is
evaluated once per distinct node shape and pod requirement; the per-node loop is a dict lookup.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from nimdoctor.catalog import Catalog
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.pods import judged
from nimdoctor.extender.protocol import Candidates, HostPriority
from nimdoctor.extender.scoring import score
from nimdoctor.placement import RequirementError, Verdict, fit_nodes, requirement_from_pod
from nimdoctor.report import Capabilities, Requirement, Status

NOT_READY_ID = "NIM-FIT-008"
MISSING = f"{NOT_READY_ID} no nimdoctor report for this node; run the nimdoctor agent there"
STALE = f"{NOT_READY_ID} the node's nimdoctor report is stale; check the nimdoctor agent there"
UNKNOWN = f"{NOT_READY_ID} fit unknown: the node's report lacks a capability the model needs"
POD_CHECK = "pod"  # the `check` label of rejections caused by the pod itself
MAX_REASON = 300  # characters: the scheduler's event is cut at 1024 bytes


def clean_reason(text: str) -> str:
    """A reason the scheduler can show: no `%` (it is used as a format string), one line, bounded."""
    text = " ".join(text.replace("%", " percent").split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


def _first_failure(verdict: Verdict) -> str | None:
    """The first reason that is not a warning (the one that decides), else the first, as `<id> <short>`."""
    for reason in verdict.reasons:
        if reason.status is not Status.WARN:
            return reason.short
    first = verdict.first
    return first.short if first is not None else None


def rejection(verdict: Verdict, *, admit_unknown: bool) -> str | None:
    """The reason a node is rejected for, or None to admit it.

    A fit admits (warnings ride along); a misfit is rejected with its first failing reason; an unknown fit
    (`fits` None) is admitted under `admit_unknown`, else rejected with the reason that made it unknown.
    """
    if verdict.fits is True:
        return None
    if verdict.fits is None and admit_unknown:
        return None
    return clean_reason(_first_failure(verdict) or UNKNOWN)


@dataclass
class Outcome:
    """A filter answer before encoding, and the rejections counted by check id (for the metrics)."""

    survivors: list[str]
    failed: dict[str, str]
    rejected_by_check: dict[str, int] = field(default_factory=dict)


@dataclass
class _Judged:
    """Decisions for one requirement against one snapshot's shapes: reason (None: admit) and score."""

    requirement: Requirement
    shapes: tuple[Capabilities, ...]
    reasons: list[str | None]
    scores: list[int]


class Decider:
    """Answers filter and prioritize for `cache`'s reports with the placement `catalog`.

    `admit_missing` is the `--on-missing-report=admit` policy; `clock` gives epoch seconds (for staleness).
    """

    def __init__(
        self,
        cache: ReportCache,
        catalog: Catalog,
        *,
        admit_missing: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache = cache
        self.catalog = catalog
        self.admit_missing = admit_missing
        self.clock = clock
        self._last: _Judged | None = None

    def requirement(self, candidates: Candidates) -> Requirement | str | None:
        """What the pod needs; None when the extender leaves the pod alone; a reason when it cannot say."""
        pod = candidates.pod
        if not judged(pod):
            return None
        try:
            return requirement_from_pod(pod, self.catalog)
        except RequirementError as exc:
            return clean_reason(f"nimdoctor: {exc}")

    def _judge(self, requirement: Requirement, shapes: tuple[Capabilities, ...]) -> _Judged:
        last = self._last
        if last is not None and last.shapes is shapes and last.requirement == requirement:
            return last
        verdicts = fit_nodes(shapes, requirement, self.catalog)
        reasons = [rejection(v, admit_unknown=self.admit_missing) for v in verdicts]
        scores = [score(c, requirement, v) for c, v in zip(shapes, verdicts, strict=True)]
        self._last = _Judged(requirement, shapes, reasons, scores)
        return self._last

    def filter(self, candidates: Candidates) -> Outcome:
        """The filter decision for every candidate node, in order."""
        names = candidates.names
        need = self.requirement(candidates)
        if need is None:
            return Outcome(survivors=names, failed={})
        if isinstance(need, str):
            everyone = dict.fromkeys(names, need)
            return Outcome(survivors=[], failed=everyone, rejected_by_check={POD_CHECK: len(everyone)})
        snapshot = self.cache.snapshot
        reasons = self._judge(need, snapshot.shapes).reasons
        missing = None if self.admit_missing else MISSING
        stale = None if self.admit_missing else STALE
        now = self.clock()
        lookup = snapshot.nodes.get
        survivors: list[str] = []
        keep = survivors.append
        failed: dict[str, str] = {}
        for name in names:
            entry = lookup(name)
            if entry is None:
                reason = missing
            elif entry.expires < now:
                reason = stale
            else:
                reason = reasons[entry.shape]
            if reason is None:
                keep(name)
            else:
                failed[name] = reason
        return Outcome(survivors, failed, self._by_check(failed))

    @staticmethod
    def _by_check(failed: dict[str, str]) -> dict[str, int]:
        """Rejections per check id: every reason here starts with its id (`NIM-FIT-005 ...`)."""
        by_check: dict[str, int] = {}
        for reason, count in Counter(failed.values()).items():
            check = reason.split(" ", 1)[0]
            by_check[check] = by_check.get(check, 0) + count
        return by_check

    def prioritize(self, candidates: Candidates) -> list[HostPriority]:
        """Scores 0-10 for every candidate node (see `scoring`); 0 for pods the extender leaves alone."""
        names = candidates.names
        need = self.requirement(candidates)
        if need is None or isinstance(need, str):
            return [HostPriority(host=name, score=0) for name in names]
        snapshot = self.cache.snapshot
        scores = self._judge(need, snapshot.shapes).scores
        now = self.clock()
        lookup = snapshot.nodes.get
        result = []
        for name in names:
            entry = lookup(name)
            value = 0 if entry is None or entry.expires < now else scores[entry.shape]
            result.append(HostPriority(host=name, score=value))
        return result
