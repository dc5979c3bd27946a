"""Kept answers (issue 20): byte-identical to computed ones across report changes, staleness, both policies
and both protocol modes; never an answer from before a report change; rejection counters right on hits; the
byte bound holds."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.extender.answers import NOTHING, AnswerCache, alike, exact
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.claims import ClaimCache
from nimdoctor.extender.run import Extender
from nimdoctor.placement.claim_specs import TEMPLATE
from tests.extender.live import Client, LiveExtender, record
from tests.extender.test_watch import nodereport
from tests.placement import nodes
from tests.placement.pods import nim_pod

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
FLEET = {
    "h100-a": nodes.DGX_H100,
    "h100-b": nodes.DGX_H100,
    "l40s": nodes.L40S_4X,
    "vgpu": nodes.L40S_VGPU_2X,
}
NAMES = [*FLEET, "no-report"]
PODS = {
    "70B": nim_pod("meta/llama-3.1-70b-instruct", gpus=4),
    "8B": nim_pod("meta/llama-3.1-8b-instruct", gpus=1),
    "not NIM": {"metadata": {"name": "web"}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
    "pod error": nim_pod("meta/llama-3.1-8b-instruct", gpus=1, env={"NIM_TENSOR_PARALLEL_SIZE": "4"}),
}


def bodies() -> list[bytes]:
    """Every pod in both protocol modes: names, and full node objects."""
    found = []
    for pod in PODS.values():
        found.append(json.dumps({"Pod": pod, "Nodes": None, "NodeNames": NAMES}).encode())
        items = [{"metadata": {"name": name}, "status": {}} for name in NAMES]
        found.append(json.dumps({"Pod": pod, "Nodes": {"items": items}, "NodeNames": None}).encode())
    return found


class Clock:
    """Epoch seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = NOW.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fleet(catalog: Catalog) -> Iterator[tuple[ReportCache, Clock, dict[str, LiveExtender]]]:
    """One report cache read by four extenders: with and without kept answers, under each policy."""
    clock = Clock()
    cache = ReportCache(900, clock=clock)
    cache.replace([record(name, caps, NOW) for name, caps in FLEET.items()])
    running: dict[str, LiveExtender] = {}
    for admit in (False, True):
        for kept in (True, False):
            extender = Extender.assemble(
                cache, catalog, admit_missing=admit, answer_cache_bytes=kept and 2**20
            )
            extender.decider.clock = clock
            if extender.webhook.memo is not None:
                extender.webhook.memo.clock = clock
            running[f"{'admit' if admit else 'reject'}-{'kept' if kept else 'computed'}"] = LiveExtender(
                extender
            )
    for live in running.values():
        live.start()
    try:
        yield cache, clock, running
    finally:
        for live in running.values():
            live.stop()


def answers(running: dict[str, LiveExtender]) -> dict[str, list[bytes]]:
    """Each extender's answers to every body and verb, each asked three times (a request is kept alike the
    first time and under its bytes the second: the second and third are answered from what was kept)."""
    found: dict[str, list[bytes]] = {}
    for name, live in running.items():
        with Client(live.port) as client:
            got = []
            for body in bodies():
                for verb in ("/filter", "/prioritize"):
                    first, second, third = (client.post(verb, body) for _ in range(3))
                    assert first[0] == second[0] == third[0] == 200
                    assert first[1] == second[1] == third[1]
                    got.append(first[1])
            found[name] = got
    return found


def same_either_way(running: dict[str, LiveExtender]) -> dict[str, list[bytes]]:
    found = answers(running)
    for policy in ("reject", "admit"):
        assert found[f"{policy}-kept"] == found[f"{policy}-computed"], policy
    return found


def test_kept_answers_are_byte_identical_across_every_change(
    fleet: tuple[ReportCache, Clock, dict[str, LiveExtender]],
) -> None:
    cache, clock, running = fleet
    history = [same_either_way(running)]
    cache.put(record("h100-b", nodes.node(nofile_soft=1024), NOW))  # a report changes
    history.append(same_either_way(running))
    cache.remove("h100-a")  # a report goes away
    history.append(same_either_way(running))
    cache.apply_event("MODIFIED", nodereport("l40s", computeCapability="x"))  # a report turns invalid
    history.append(same_either_way(running))
    cache.put(record("vgpu", nodes.L40S_VGPU_2X, NOW + dt.timedelta(seconds=600)))  # a heartbeat only
    history.append(same_either_way(running))
    clock.now += 901  # every report but vgpu's goes stale, by time alone
    history.append(same_either_way(running))
    cache.put(record("h100-b", nodes.node(nofile_soft=1024), NOW + dt.timedelta(seconds=901)))  # revived
    history.append(same_either_way(running))
    # Each step but the heartbeat changed some answer: a kept answer from before never came back.
    steps = [step["reject-kept"] for step in history]
    changed = [before != after for before, after in itertools.pairwise(steps)]
    assert changed == [True, True, True, False, True, True]  # the heartbeat (4th) changed nothing
    memo = running["reject-kept"].extender.webhook.memo
    assert memo is not None
    assert sum(memo.stats.hits.values()) >= len(history) * len(bodies()) * 2  # each body and verb, each step


def test_a_heartbeat_that_moves_a_report_back_into_staleness_drops_the_kept_answers(
    fleet: tuple[ReportCache, Clock, dict[str, LiveExtender]],
) -> None:
    cache, _, running = fleet
    before = same_either_way(running)
    # Same node, same shape, an older heartbeat (an agent whose clock went back): stale from now on.
    cache.put(record("h100-a", nodes.DGX_H100, NOW - dt.timedelta(seconds=901)))
    after = same_either_way(running)
    assert before["reject-kept"] != after["reject-kept"]


def test_rejection_counters_count_every_answer_served(
    fleet: tuple[ReportCache, Clock, dict[str, LiveExtender]],
) -> None:
    _, _, running = fleet
    body = json.dumps({"Pod": PODS["70B"], "Nodes": None, "NodeNames": NAMES}).encode()
    expositions = {}
    for name in ("reject-kept", "reject-computed"):
        with Client(running[name].port) as client:
            for _ in range(5):
                assert client.post("/filter", body)[0] == 200
            expositions[name] = [
                line
                for line in client.get("/metrics")[1].decode().splitlines()
                if line.startswith("nimdoctor_extender_nodes_rejected_total{")
            ]
    assert expositions["reject-kept"] == expositions["reject-computed"]
    assert 'nimdoctor_extender_nodes_rejected_total{check="NIM-FIT-008"} 5.0' in expositions["reject-kept"]
    with Client(running["reject-kept"].port) as client:
        metrics = client.get("/metrics")[1].decode()
    # Kept alike on the 1st (a hit on the 2nd), under its bytes on the 2nd (hits on the 3rd to 5th).
    assert 'nimdoctor_extender_answer_cache_hits_total{verb="filter"} 4.0' in metrics
    assert 'nimdoctor_extender_answer_cache_misses_total{verb="filter"} 1.0' in metrics


def kept_cache(max_bytes: int) -> tuple[ReportCache, AnswerCache]:
    cache = ReportCache(None)
    cache.replace([record("a", nodes.DGX_H100)])
    return cache, AnswerCache(cache, max_bytes=max_bytes)


def second_time(memo: AnswerCache, body: bytes) -> Any:
    """The state to put an answer to `body` under, once `body` has come twice (then it is kept)."""
    memo.get(exact("filter", body))
    _, seen, state = memo.get(exact("filter", body))
    assert seen
    return state


def kept_for(memo: AnswerCache, body: bytes) -> Any:
    """The answer kept for exactly `body`, if any."""
    return memo.get(exact("filter", body))[0]


def test_a_request_is_kept_under_its_bytes_only_when_it_comes_again() -> None:
    _, memo = kept_cache(max_bytes=2**20)
    kept, seen, _ = memo.get(exact("filter", b"once"))
    assert kept is None
    assert not seen
    kept, seen, _ = memo.get(exact("filter", b"once"))
    assert kept is None
    assert seen  # the webhook keeps its answer under its bytes now


def test_the_byte_bound_holds_and_the_least_recently_used_go_first() -> None:
    _, memo = kept_cache(max_bytes=10_000)
    answer = b"x" * 1000
    for index in range(50):
        body = f"request {index}".encode()
        memo.put(exact("filter", body), answer, NOTHING, second_time(memo, body))
        memo.put(alike("filter", b"question", b"", body), answer, NOTHING, second_time(memo, body))
        assert memo.bytes_kept <= 10_000
    assert kept_for(memo, b"request 49") is not None
    assert memo.get_alike(alike("filter", b"question", b"", b"request 49")) is not None
    assert kept_for(memo, b"request 0") is None  # evicted
    assert memo.get_alike(alike("filter", b"question", b"", b"request 0")) is None
    huge = b"y" * 20_000  # larger than the bound: never kept
    memo.put(exact("filter", b"huge"), huge, NOTHING, second_time(memo, b"huge"))
    assert kept_for(memo, b"huge") is None
    assert memo.bytes_kept <= 10_000


def test_an_answer_computed_before_a_report_change_is_never_kept(catalog: Catalog) -> None:
    cache, memo = kept_cache(max_bytes=2**20)
    before = second_time(memo, b"request")
    cache.put(record("b", nodes.L40S_4X))  # the reports change while the answer is computed
    assert kept_for(memo, b"other") is None  # the memo sees the new generation
    memo.put(exact("filter", b"request"), b"old answer", NOTHING, before)
    memo.put(alike("filter", b"question", b"", b"request"), b"old answer", NOTHING, before)
    assert kept_for(memo, b"request") is None
    assert memo.get_alike(alike("filter", b"question", b"", b"request")) is None


def test_a_policy_change_drops_kept_answers() -> None:
    cache = ReportCache(None)
    cache.replace([record("a", nodes.DGX_H100)])
    policy: list[Any] = [False]
    memo = AnswerCache(cache, inputs=lambda: policy[0])
    memo.put(exact("filter", b"request"), b"answer", NOTHING, second_time(memo, b"request"))
    assert kept_for(memo, b"request") is not None
    policy[0] = True
    assert kept_for(memo, b"request") is None


def test_a_resource_claim_change_drops_kept_answers(catalog: Catalog) -> None:
    cache = ReportCache(None)
    cache.replace([record("a", nodes.DGX_H100)])
    claims = ClaimCache()
    extender = Extender.assemble(cache, catalog, claims=claims)
    memo = extender.webhook.memo
    assert memo is not None
    memo.put(exact("filter", b"request"), b"answer", NOTHING, second_time(memo, b"request"))
    assert kept_for(memo, b"request") is not None
    claims.apply_list(TEMPLATE, [])  # a (re)list of templates: the GPU counts may differ
    assert kept_for(memo, b"request") is None


def test_answers_on_trial_hold_an_eighth_of_the_bytes_and_a_hit_keeps_them() -> None:
    _, memo = kept_cache(max_bytes=80_000)
    state = second_time(memo, b"any")

    def on_trial(index: int) -> None:
        memo.put(alike("filter", b"q", b"", b"%d" % index), b"x" * 1000, NOTHING, state, trial=True)

    for index in range(50):  # a stream of requests that never repeat
        on_trial(index)
        assert memo.bytes_kept <= 10_000
    assert memo.get_alike(alike("filter", b"q", b"", b"0")) is None  # long gone
    assert memo.get_alike(alike("filter", b"q", b"", b"49")) is not None  # a replica's hit: kept for good
    for index in range(50, 100):
        on_trial(index)
    assert memo.get_alike(alike("filter", b"q", b"", b"49")) is not None
    assert memo.get_alike(alike("filter", b"q", b"", b"50")) is None
