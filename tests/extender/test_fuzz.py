"""Fuzz: thousands of random and mutated bodies against a live extender. Every answer is 200, 400 or 413,
never a 500; a 200 is an answer kube-scheduler can read; the server goes on serving."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nimdoctor.catalog import Catalog
from tests.extender.gosched import read_filter, read_prioritize
from tests.extender.live import Client, LiveExtender, live
from tests.placement.pods import lws_leader, lws_worker, nim_pod

CAP = 64 * 1024
NAMES = ["dgx-h100", "l40s-4x", "l40s-vgpu-2x", "gpu-unknown"]
PODS = [
    nim_pod("meta/llama-3.1-70b-instruct", gpus=4),
    nim_pod("acme/house-model", gpus=1, annotations={"nimdoctor.io/model-params": "13"}),
    lws_leader("meta/llama-3.1-405b-instruct", tensor=8, pipeline=2),
    lws_worker("meta/llama-3.1-405b-instruct", tensor=8, pipeline=2),
]
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def valid_body(pod: dict[str, Any], full: bool) -> dict[str, Any]:
    if full:
        items = [{"metadata": {"name": n}, "status": {}} for n in NAMES]
        return {"Pod": pod, "Nodes": {"metadata": {}, "items": items}, "NodeNames": None}
    return {"Pod": pod, "Nodes": None, "NodeNames": list(NAMES)}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside `value` (dict keys and list indexes)."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid request with one part replaced, removed, re-cased or cut short."""
    body = copy.deepcopy(valid_body(draw(st.sampled_from(PODS)), draw(st.booleans())))
    path = draw(st.sampled_from(list(paths(body))[1:]))
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    how = draw(st.sampled_from(["replace", "remove", "case", "truncate"]))
    last = path[-1]
    if how == "replace":
        parent[last] = draw(json_values)
    elif how == "remove":
        del parent[last]
    elif how == "case" and isinstance(last, str):
        parent[last.lower()] = parent.pop(last)
    encoded = json.dumps(body).encode()
    if how == "truncate":
        encoded = encoded[: draw(st.integers(min_value=0, max_value=len(encoded)))]
    return encoded


@pytest.fixture(scope="module")
def target(catalog: Catalog) -> Iterator[tuple[LiveExtender, Client]]:
    running = live(catalog, max_body=CAP).start()
    client = running.client()
    try:
        yield running, client
    finally:
        client.close()
        running.stop()


def check(client: Client, body: bytes) -> None:
    """Both verbs answer `body` with 200, 400 or 413; a 200 reads as kube-scheduler reads it."""
    for verb in ("/filter", "/prioritize"):
        status, answer = client.post(verb, body)
        assert status in (200, 400, 413), (status, answer[:300])
        if status != 200:
            assert json.loads(answer)["Error"]
            continue
        request = json.loads(body)
        names = (
            request["NodeNames"]
            if request.get("NodeNames") is not None
            else [item["metadata"]["name"] for item in request["Nodes"].get("items") or []]
        )
        if verb == "/prioritize":
            assert set(read_prioritize(answer)) == set(names)
            continue
        view = read_filter(answer, names, node_cache_capable=request.get("NodeNames") is not None)
        assert set(view.feasible) | set(view.statuses) == set(names)
        assert not set(view.feasible) & set(view.statuses)


@settings(FUZZ, max_examples=1200)
@given(body=mutated())
def test_mutated_requests(target: tuple[LiveExtender, Client], body: bytes) -> None:
    check(target[1], body)


@settings(FUZZ, max_examples=600)
@given(value=json_values)
def test_random_json(target: tuple[LiveExtender, Client], value: Any) -> None:
    check(target[1], json.dumps(value).encode())


@settings(FUZZ, max_examples=300)
@given(body=st.binary(max_size=256))
def test_random_bytes(target: tuple[LiveExtender, Client], body: bytes) -> None:
    check(target[1], body)


@settings(FUZZ, max_examples=20)
@given(extra=st.integers(min_value=1, max_value=4 * CAP))
def test_bodies_past_the_cap(target: tuple[LiveExtender, Client], extra: int) -> None:
    body = json.dumps({"Pod": PODS[0], "Nodes": None, "NodeNames": ["x" * (CAP + extra)]}).encode()
    status, _ = target[1].post("/filter", body)
    assert status == 413


def test_deep_nesting_is_a_400(target: tuple[LiveExtender, Client]) -> None:
    status, answer = target[1].post("/filter", b'{"Pod": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}")
    assert status == 400
    assert b"nested too deeply" in answer


def test_still_serving_after_the_fuzz(target: tuple[LiveExtender, Client]) -> None:
    status, answer = target[1].post("/filter", valid_body(PODS[0], full=False))
    assert status == 200
    assert json.loads(answer)["NodeNames"] == ["dgx-h100", "l40s-4x"]
