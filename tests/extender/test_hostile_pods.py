"""Fields a pod author controls never knock the gate over: every number read from a pod is bounded, an
unreadable pod is rejected on every node with one reason naming the field and what is allowed, and a fuzz of
hostile field values gives no exception in the decider and no 500 over HTTP."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nimdoctor.catalog import Catalog
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.decide import POD_CHECK, Decider
from nimdoctor.extender.protocol import Candidates
from tests.extender.live import LiveExtender, machine_records
from tests.placement.pods import lws_leader, lws_worker, nim_pod

LLAMA_8B = "meta/llama-3.1-8b-instruct"
# Hostile values are large on purpose (thousands of digits): no health check on their size or speed.
HOSTILE_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    derandomize=True,
)


def with_container_name(pod: dict[str, Any], name: Any) -> dict[str, Any]:
    pod["spec"]["containers"].append({"name": name, "image": "busybox"})
    return pod


# (pod, the field the reason names, what it says is allowed): the findings, one per field.
UNREADABLE = {
    "superscript TP": (
        nim_pod(LLAMA_8B, env={"NIM_TENSOR_PARALLEL_SIZE": "\u00b2"}),
        "env NIM_TENSOR_PARALLEL_SIZE",
        "ASCII digits, at most 1024",
    ),
    "fullwidth TP": (
        nim_pod(LLAMA_8B, env={"NIM_TENSOR_PARALLEL_SIZE": "\uff12"}),
        "env NIM_TENSOR_PARALLEL_SIZE",
        "ASCII digits",
    ),
    "5,000-digit context": (
        nim_pod(LLAMA_8B, env={"NIM_MAX_MODEL_LEN": "9" * 5000}),
        "env NIM_MAX_MODEL_LEN",
        "at most 1073741824",
    ),
    "a context past the bound": (
        nim_pod(LLAMA_8B, env={"NIM_MAX_MODEL_LEN": str(2**31)}),
        "env NIM_MAX_MODEL_LEN",
        "at most 1073741824",
    ),
    "1e308 parameters": (
        nim_pod("acme/house-model", annotations={"nimdoctor.io/model-params": "1e308"}),
        "nimdoctor.io/model-params",
        "at most 100000",
    ),
    "5,000-digit GPU quantity": (
        nim_pod(LLAMA_8B, gpus="9" * 5000),
        "limits[nvidia.com/gpu]",
        "at most 1024",
    ),
    "a GPU integer of 5,000 digits": (
        nim_pod(LLAMA_8B, gpus=10**4999),
        "limits[nvidia.com/gpu]",
        "at most 1024",
    ),
    "superscript pipeline on an LWS leader": (
        lws_leader("meta/llama-3.1-405b-instruct", tensor=8, pipeline=2),
        "env NIM_PIPELINE_PARALLEL_SIZE",
        "ASCII digits",
    ),
}
_leader = UNREADABLE["superscript pipeline on an LWS leader"][0]
for _entry in _leader["spec"]["containers"][0]["env"]:
    if _entry["name"] == "NIM_PIPELINE_PARALLEL_SIZE":
        _entry["value"] = "\u00b2"


@pytest.fixture(scope="module")
def decider(catalog: Catalog) -> Decider:
    cache = ReportCache(None, trust_simulated=True)
    cache.replace(machine_records())
    return Decider(cache, catalog)


def ask(decider: Decider, pod: Any) -> Candidates:
    return Candidates(pod=pod, names=list(decider.cache.snapshot.nodes), by_name=True, items=None)


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_an_unreadable_pod_is_rejected_on_every_node_naming_the_field(decider: Decider, case: str) -> None:
    pod, field, allowed = UNREADABLE[case]
    request = ask(decider, pod)
    outcome = decider.filter(request)
    assert outcome.survivors == []
    (reason,) = set(outcome.failed.values())  # one reason, the same on every node
    assert set(outcome.failed) == set(request.names)
    assert field in reason
    assert allowed in reason
    assert len(reason) <= 300
    assert outcome.rejected_by_check == {POD_CHECK: len(request.names)}
    assert {p.score for p in decider.prioritize(request)} == {0}


def test_a_400_digit_size_in_an_image_name_is_no_size(decider: Decider) -> None:
    outcome = decider.filter(ask(decider, nim_pod("acme/model-" + "9" * 400 + "b")))
    assert outcome.survivors == []
    assert {r.split(" ", 1)[0] for r in outcome.failed.values()} == {"NIM-FIT-001"}  # size unknown


def test_an_unhashable_container_name_leaves_an_lws_worker_judged(decider: Decider) -> None:
    worker = with_container_name(lws_worker("meta/llama-3.1-405b-instruct", tensor=8, pipeline=2), ["x"])
    plain = decider.filter(ask(decider, lws_worker("meta/llama-3.1-405b-instruct", tensor=8, pipeline=2)))
    assert decider.filter(ask(decider, worker)) == plain
    assert plain.failed  # judged: an 8-GPU worker does not fit everywhere


# --- fuzz: hostile values in the fields a pod author writes -------------------------------------------

NUMERIC_ENV = ["NIM_TENSOR_PARALLEL_SIZE", "NIM_PIPELINE_PARALLEL_SIZE", "NIM_MAX_MODEL_LEN"]
TEXT_ENV = ["NIM_MODEL_PROFILE", "NIM_MODEL_NAME", "NIM_MODEL_PATH", "NIM_MULTI_NODE"]
digits = st.sampled_from(["0123456789", "\u00b2\u00b3\u00b9", "\uff10\uff11\uff12", "\u0660\u0661\u0662"])
hostile_text = (
    digits.flatmap(lambda alphabet: st.text(alphabet, min_size=1, max_size=6000))
    | st.text(max_size=40)
    | st.sampled_from(["1e308", "-1", "inf", "nan", "0x10", " 4 ", "4.0", "1_000", "", "8x7b", "9" * 4400])
)
hostile = (
    hostile_text
    | st.integers()
    | st.integers(min_value=2**64, max_value=10**4000)
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.none()
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)
BASES = [
    nim_pod("meta/llama-3.1-70b-instruct", gpus=4),
    nim_pod("acme/house-model", gpus=1, annotations={"nimdoctor.io/model-params": "13"}),
    lws_leader("meta/llama-3.1-405b-instruct", tensor=8, pipeline=2),
    lws_worker("meta/llama-3.1-405b-instruct", tensor=8, pipeline=2),
]


@st.composite
def hostile_pods(draw: st.DrawFn) -> dict[str, Any]:
    """A NIM pod with one to three fields a pod author controls set to hostile values."""
    pod: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(BASES)))
    container = pod["spec"]["containers"][0]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = draw(st.sampled_from(["env", "annotation", "gpus", "image", "name", "mig", "label"]))
        value = draw(hostile)
        if target == "env":
            name = draw(st.sampled_from(NUMERIC_ENV + TEXT_ENV))
            container["env"].append({"name": name, "value": value})
        elif target == "annotation":
            key = draw(st.sampled_from(["nimdoctor.io/model-params", "nimdoctor.io/precision"]))
            pod["metadata"]["annotations"][key] = value
        elif target == "gpus":
            part = draw(st.sampled_from(["limits", "requests"]))
            container["resources"].setdefault(part, {})["nvidia.com/gpu"] = value
        elif target == "image":
            size = draw(st.sampled_from(["9" * 400, "\u00b9\u00b2", "1e308", "8x" + "7" * 30]))
            container["image"] = (
                value if isinstance(value, str) and draw(st.booleans()) else f"acme/m-{size}b"
            )
        elif target == "name":
            with_container_name(pod, value)
        elif target == "mig":
            profile = draw(st.sampled_from(["3g.40gb", "9" * 5000 + "g.1gb", "\u00b3g.40gb"]))
            container["resources"] = {"limits": {f"nvidia.com/mig-{profile}": value}}
        else:
            pod["metadata"]["labels"][
                draw(st.sampled_from(["nim-llm-role", "app.kubernetes.io/part-of"]))
            ] = value
    return pod


@settings(HOSTILE_SETTINGS, max_examples=1500)
@given(pod=hostile_pods())
def test_hostile_pods_never_raise_in_the_decider(decider: Decider, pod: dict[str, Any]) -> None:
    request = ask(decider, pod)
    outcome = decider.filter(request)
    assert set(outcome.survivors) | set(outcome.failed) == set(request.names)
    if POD_CHECK in outcome.rejected_by_check:  # the pod's own error: one reason, on every node
        assert len(set(outcome.failed.values())) == 1
        assert not outcome.survivors
    assert len(decider.prioritize(request)) == len(request.names)
    assert decider.faults.counts["judge"] == 0


BIG = "<big integer>"


def _marked(value: Any) -> Any:
    """`value` with integers too long for Python's json module marked (written as digits by `wire`)."""
    if isinstance(value, dict):
        return {k: _marked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_marked(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return BIG
    return value


def wire(body: dict[str, Any]) -> bytes:
    """JSON as a client may send it: a huge integer becomes 5,000 digits on the wire."""
    return json.dumps(_marked(body)).replace(json.dumps(BIG), "9" * 5000).encode()


@settings(HOSTILE_SETTINGS, max_examples=300)
@given(pod=hostile_pods())
def test_hostile_pods_are_never_a_500(server: LiveExtender, pod: dict[str, Any]) -> None:
    names = ["dgx-h100", "l40s-4x", "a100-mig"]
    body = wire({"Pod": pod, "Nodes": None, "NodeNames": names})
    with server.client() as client:
        for verb in ("/filter", "/prioritize"):
            status, answer = client.post(verb, body)
            assert status in (200, 400), (status, answer[:300])
        exposition = client.get("/metrics")[1].decode()
    for where in ("filter", "prioritize", "judge"):
        assert f'nimdoctor_extender_internal_errors_total{{where="{where}"}} 0.0' in exposition
