"""Missing, stale and unknown: the --on-missing-report policy, and what a rejection says."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.decide import MISSING, POD_CHECK, STALE, UNKNOWN, Decider, clean_reason, rejection
from nimdoctor.extender.protocol import Candidates
from nimdoctor.placement import Verdict
from nimdoctor.report import Reason, Status
from tests.extender.live import record
from tests.placement import nodes
from tests.placement.pods import nim_pod

NOW = dt.datetime(2026, 11, 29, 19, 0, tzinfo=dt.UTC)
POD = nim_pod("meta/llama-3.1-8b-instruct", gpus=1)


def candidates(*names: str, pod: dict[str, Any] = POD) -> Candidates:
    return Candidates(pod=pod, names=list(names), by_name=True, items=None)


def decider(catalog: Catalog, *, admit: bool) -> Decider:
    cache = ReportCache(stale_after=900)
    cache.replace(
        [
            record("fresh", nodes.DGX_H100, NOW - dt.timedelta(seconds=60)),
            record("old", nodes.DGX_H100, NOW - dt.timedelta(seconds=901)),
        ]
    )
    return Decider(cache, catalog, admit_missing=admit, clock=NOW.timestamp)


def test_reject_policy_names_missing_and_stale_reports_under_nim_fit_008(catalog: Catalog) -> None:
    outcome = decider(catalog, admit=False).filter(candidates("fresh", "old", "ghost"))
    assert outcome.survivors == ["fresh"]
    assert outcome.failed == {"old": STALE, "ghost": MISSING}
    assert outcome.rejected_by_check == {"NIM-FIT-008": 2}


def test_admit_policy_lets_missing_and_stale_reports_through(catalog: Catalog) -> None:
    outcome = decider(catalog, admit=True).filter(candidates("fresh", "old", "ghost"))
    assert outcome.survivors == ["fresh", "old", "ghost"]
    assert outcome.failed == {}


def test_missing_and_stale_nodes_score_zero(catalog: Catalog) -> None:
    scores = {
        p.host: p.score for p in decider(catalog, admit=True).prioritize(candidates("fresh", "old", "ghost"))
    }
    assert scores["fresh"] > 0
    assert scores["old"] == scores["ghost"] == 0


def test_a_report_without_any_time_is_stale_when_staleness_is_checked(catalog: Catalog) -> None:
    timeless = dataclasses.replace(record("n", nodes.DGX_H100), heartbeat_at=None, observed_at=None)
    cache = ReportCache(stale_after=900)
    cache.replace([timeless])
    assert Decider(cache, catalog).filter(candidates("n")).failed == {"n": STALE}
    never = ReportCache(stale_after=None)
    never.replace([timeless])
    assert Decider(never, catalog).filter(candidates("n")).survivors == ["n"]


def reason(check: str, status: Status) -> Reason:
    return Reason(id=check, status=status, short=f"{check} short text", message="m", fix="f")


def test_warnings_alone_admit() -> None:
    verdict = Verdict(fits=True, reasons=(reason("NIM-FIT-003", Status.WARN),))
    assert rejection(verdict, admit_unknown=False) is None


def test_a_misfit_is_rejected_with_its_first_failure_whatever_the_policy() -> None:
    verdict = Verdict(
        fits=False, reasons=(reason("NIM-FIT-003", Status.WARN), reason("NIM-FIT-009", Status.FAIL))
    )
    assert rejection(verdict, admit_unknown=True) == "NIM-FIT-009 short text"


# Placement may answer `fits=None` ("could not be judged"); a Verdict with None is built directly here.
@pytest.mark.parametrize(
    ("reasons", "expected"),
    [
        ((reason("NIM-FIT-002", Status.WARN), reason("NIM-FIT-001", Status.ERROR)), "NIM-FIT-001 short text"),
        ((), UNKNOWN),
    ],
)
def test_an_unknown_fit_goes_by_the_policy(reasons: tuple[Reason, ...], expected: str) -> None:
    fits: Any = None
    unknown = Verdict(fits=fits, reasons=reasons)
    assert rejection(unknown, admit_unknown=False) == expected
    assert rejection(unknown, admit_unknown=True) is None


def test_reasons_are_one_bounded_line_without_percent_signs() -> None:
    text = clean_reason("NIM-FIT-001 uses 90% of\nmemory " + "x" * 1000)
    assert "%" not in text
    assert "\n" not in text
    assert text.startswith("NIM-FIT-001 uses 90 percent of memory ")
    assert len(text) == 300


def test_a_report_going_stale_between_two_requests_is_noticed(catalog: Catalog) -> None:
    now = [NOW.timestamp()]
    cache = ReportCache(stale_after=900)
    cache.replace([record("n", nodes.DGX_H100, NOW)])
    decider = Decider(cache, catalog, clock=lambda: now[0])
    assert decider.filter(candidates("n")).survivors == ["n"]
    now[0] += 901
    assert decider.filter(candidates("n")).failed == {"n": STALE}
    cache.put(record("n", nodes.DGX_H100, NOW + dt.timedelta(seconds=901)))  # the agent is back
    assert decider.filter(candidates("n")).survivors == ["n"]


def test_a_near_miss_of_a_catalog_model_is_a_pod_side_rejection_naming_the_suggestion(
    catalog: Catalog,
) -> None:
    typo = nim_pod("meta/llama-3.1-70b-instruc", gpus=8)  # one letter short: not sized as a 70B guess
    outcome = decider(catalog, admit=True).filter(candidates("fresh", "ghost", pod=typo))
    assert outcome.survivors == []
    assert set(outcome.failed) == {"fresh", "ghost"}
    said = outcome.failed["fresh"]
    assert said == outcome.failed["ghost"]  # one reason for the pod, whatever the node
    assert said.startswith("nimdoctor: pod ")
    assert "did you mean meta/llama-3.1-70b-instruct?" in said
    assert outcome.rejected_by_check == {POD_CHECK: 2}
