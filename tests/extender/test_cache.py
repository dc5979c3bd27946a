"""The report cache: one shape per distinct capabilities, snapshots that never change under a reader,
staleness, and the watch callbacks."""

from __future__ import annotations

import datetime as dt
import math

import msgspec
import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.extender import decide
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.decide import Decider
from nimdoctor.extender.protocol import Candidates
from nimdoctor.placement import Verdict, fit
from nimdoctor.report import Capabilities, Requirement
from tests.extender.live import record
from tests.placement import nodes
from tests.placement.pods import nim_pod

NOW = dt.datetime(2026, 11, 29, 19, 0, tzinfo=dt.UTC)


def nodereport(name: str, ready: bool = True, **capabilities: object) -> dict[str, object]:
    """A NodeReport object as the API serves it."""
    return {
        "apiVersion": "nimdoctor.io/v1alpha1",
        "kind": "NodeReport",
        "metadata": {"name": name},
        "status": {
            "ready": ready,
            "capabilities": {"ready": ready, "gpuCount": 8, **capabilities},
            "heartbeatTime": "2026-11-29T19:00:00Z",
        },
    }


def test_nodes_of_one_shape_share_one_capabilities_entry() -> None:
    cache = ReportCache(None)
    cache.replace([record(f"h100-{i}", nodes.DGX_H100) for i in range(50)] + [record("l40s", nodes.L40S_4X)])
    snapshot = cache.snapshot
    assert len(snapshot.nodes) == 51
    assert snapshot.shapes == (nodes.DGX_H100, nodes.L40S_4X)
    assert {e.shape for name, e in snapshot.nodes.items() if name.startswith("h100")} == {0}


def test_fit_is_evaluated_once_per_shape_not_per_node(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ReportCache(None)
    cache.replace([record(f"n{i}", nodes.DGX_H100 if i % 2 else nodes.L40S_4X) for i in range(1000)])
    calls: list[Capabilities] = []

    def counting(capabilities: Capabilities, requirement: Requirement, catalog: Catalog) -> Verdict:
        calls.append(capabilities)
        return fit(capabilities, requirement, catalog)

    monkeypatch.setattr(decide, "fit", counting)
    decider = Decider(cache, catalog)
    pod = nim_pod("meta/llama-3.1-70b-instruct", gpus=4)
    outcome = decider.filter(Candidates(pod=pod, names=list(cache.snapshot.nodes), by_name=True, items=None))
    assert len(outcome.survivors) == 1000
    assert len(calls) == 2
    decider.filter(Candidates(pod=pod, names=["n1"], by_name=True, items=None))
    assert len(calls) == 2  # same requirement, same shapes: not judged again


def test_a_published_snapshot_never_changes() -> None:
    cache = ReportCache(None)
    cache.replace([record("a", nodes.DGX_H100)])
    before = cache.snapshot
    cache.put(record("b", nodes.L40S_4X))
    cache.remove("a")
    assert set(before.nodes) == {"a"}
    assert before.shapes == (nodes.DGX_H100,)
    assert set(cache.snapshot.nodes) == {"b"}


def test_shapes_no_longer_used_are_dropped_once_they_pile_up() -> None:
    cache = ReportCache(None)
    cache.replace([record("a", nodes.DGX_H100)])
    for version in range(100):  # a rolling driver upgrade, one node at a time, over and over
        cache.put(record("b", msgspec.structs.replace(nodes.DGX_H100, driver_version=f"550.{version}")))
    snapshot = cache.snapshot
    assert len(snapshot.shapes) <= 33
    assert snapshot.shapes[snapshot.nodes["a"].shape] == nodes.DGX_H100
    assert snapshot.shapes[snapshot.nodes["b"].shape].driver_version == "550.99"


def test_stats_count_stale_reports_and_the_oldest_age() -> None:
    cache = ReportCache(stale_after=900)
    cache.replace(
        [
            record("new", nodes.DGX_H100, NOW - dt.timedelta(seconds=10)),
            record("old", nodes.DGX_H100, NOW - dt.timedelta(seconds=1000)),
        ]
    )
    assert cache.stats(NOW.timestamp())[:3] == (2, 1, 1000.0)
    assert ReportCache(None).stats(NOW.timestamp())[:3] == (0, 0, 0.0)


def test_reports_from_files_never_expire_unless_asked() -> None:
    cache = ReportCache(stale_after=None)
    cache.replace([record("a", nodes.DGX_H100, NOW - dt.timedelta(days=365))])
    assert cache.snapshot.nodes["a"].expires == math.inf


def test_watch_callbacks_add_modify_delete_and_drop_unreadable_reports() -> None:
    cache = ReportCache(None)
    assert not cache.synced
    cache.apply_list([nodereport("a"), nodereport("b"), {"kind": "NodeReport", "metadata": {"name": "c"}}])
    assert cache.synced
    assert set(cache.snapshot.nodes) == {"a", "b"}  # c has no status yet: left out
    cache.apply_event("MODIFIED", nodereport("a", ready=False))
    snapshot = cache.snapshot
    assert snapshot.shapes[snapshot.nodes["a"].shape].ready is False
    cache.apply_event("ADDED", nodereport("c"))
    cache.apply_event("DELETED", nodereport("b"))
    assert set(cache.snapshot.nodes) == {"a", "c"}
    cache.apply_event("MODIFIED", {**nodereport("c"), "apiVersion": "nimdoctor.io/v2"})
    assert set(cache.snapshot.nodes) == {"a"}  # unreadable now: no report, not the old one


def test_a_heartbeat_keeps_the_lookup_map_so_readers_keep_their_tables() -> None:
    cache = ReportCache(900)
    cache.replace([record("a", nodes.DGX_H100, NOW), record("b", nodes.L40S_4X, NOW)])
    before = cache.snapshot
    cache.put(record("a", nodes.DGX_H100, NOW + dt.timedelta(seconds=300)))
    after = cache.snapshot
    assert after.shape_of is before.shape_of
    assert after.nodes["a"].expires == before.nodes["a"].expires + 300
    cache.put(record("a", nodes.L40S_4X, NOW))  # a new shape for a: a new map
    assert cache.snapshot.shape_of is not after.shape_of
    assert cache.snapshot.shape_of["a"] == cache.snapshot.shape_of["b"]
