"""Kept answers shared by replicas (issue 20b): pods that differ only in what the extender does not read
(name, uid, labels of no meaning to placement) share one kept answer, byte for byte the computed one; pods
that differ in anything placement reads (GPU count, TP, image, claims) never do."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.decide import Decider
from nimdoctor.extender.protocol import decode_args
from nimdoctor.extender.run import Extender
from tests.extender.live import Client, LiveExtender, record
from tests.placement import nodes
from tests.placement.pods import dra_pod, nim_pod

FLEET = {"h100": nodes.DGX_H100, "l40s": nodes.L40S_4X, "vgpu": nodes.L40S_VGPU_2X}
NAMES = [*FLEET, "no-report"]
MODEL_70B = "meta/llama-3.1-70b-instruct"


def replica(pod: dict[str, Any], index: int, *, labelled: bool = True) -> dict[str, Any]:
    """`pod` as the `index`th replica of its NIMService: its own name and uid (and pod-index label)."""
    made = copy.deepcopy(pod)
    metadata = made["metadata"]
    metadata["name"] = f"llm-7d9f8-{index:05d}"
    metadata["uid"] = f"00000000-0000-0000-0000-{index:012d}"
    metadata["labels"]["pod-template-hash"] = "7d9f8"
    if labelled:
        metadata["labels"]["apps.kubernetes.io/pod-index"] = str(index)
    return made


def requests(pod: dict[str, Any]) -> list[bytes]:
    """`pod` asked about `NAMES` in names mode and in full-node mode."""
    items = [{"metadata": {"name": name}, "status": {}} for name in NAMES]
    return [
        json.dumps({"Pod": pod, "Nodes": None, "NodeNames": NAMES}).encode(),
        json.dumps({"Pod": pod, "Nodes": {"items": items}, "NodeNames": None}).encode(),
    ]


@pytest.fixture
def pair(catalog: Catalog) -> Iterator[dict[str, LiveExtender]]:
    """Two extenders on one report cache: one keeping answers, one computing every answer."""
    cache = ReportCache(None)
    cache.replace([record(name, caps) for name, caps in FLEET.items()])
    running = {
        kept: LiveExtender(Extender.assemble(cache, catalog, answer_cache_bytes=size)).start()
        for kept, size in (("kept", 2**20), ("computed", 0))
    }
    try:
        yield running
    finally:
        for live in running.values():
            live.stop()


def ask(live: LiveExtender, pod: dict[str, Any]) -> list[bytes]:
    """Every answer of `live` about `pod`: both verbs, both modes."""
    with Client(live.port) as client:
        answers = []
        for body in requests(pod):
            for verb in ("/filter", "/prioritize"):
                status, answer = client.post(verb, body)
                assert status == 200, answer
                answers.append(answer)
        return answers


def alike_hits(live: LiveExtender) -> int:
    memo = live.extender.webhook.memo
    assert memo is not None
    return sum(memo.stats.alike_hits.values())


# A DRA pod whose GPU count is unknown (no claim cache) is judged per node from its fields, labels
# included: its replicas share an answer only when they differ in nothing but name and uid.
@pytest.mark.parametrize(
    ("pod", "labelled"),
    [(nim_pod(MODEL_70B, gpus=4), True), (dra_pod(MODEL_70B), False)],
    ids=["gpu", "dra count unknown"],
)
def test_replicas_with_the_same_candidates_share_one_answer_byte_for_byte(
    pair: dict[str, LiveExtender], pod: dict[str, Any], labelled: bool
) -> None:
    first = ask(pair["kept"], replica(pod, 1, labelled=labelled))
    assert alike_hits(pair["kept"]) == 0
    second = ask(pair["kept"], replica(pod, 2, labelled=labelled))
    assert alike_hits(pair["kept"]) == 4  # each verb and mode answered from the first replica's
    assert first == second == ask(pair["computed"], replica(pod, 2, labelled=labelled))
    assert any(b"NIM-FIT" in answer for answer in first)  # answers with reasons, not a pass-through


def test_replicas_of_a_dra_pod_judged_per_node_share_no_answer_when_their_labels_differ(
    pair: dict[str, LiveExtender],
) -> None:
    ask(pair["kept"], replica(dra_pod(MODEL_70B), 1))
    assert ask(pair["kept"], replica(dra_pod(MODEL_70B), 2)) == ask(
        pair["computed"], replica(dra_pod(MODEL_70B), 2)
    )
    assert alike_hits(pair["kept"]) == 0


VARIANTS = {
    "GPU count": nim_pod(MODEL_70B, gpus=8),
    "env TP": nim_pod(MODEL_70B, gpus=4, env={"NIM_TENSOR_PARALLEL_SIZE": "2"}),
    "model": nim_pod("meta/llama-3.1-8b-instruct", gpus=4),
    "image tag": nim_pod(MODEL_70B, gpus=4, tag="1.0.0"),
    "claims": dra_pod(MODEL_70B),
    "another template": dra_pod(MODEL_70B, template="other-template"),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_pods_that_differ_in_what_placement_reads_never_share_an_answer(
    pair: dict[str, LiveExtender], variant: str
) -> None:
    base = nim_pod(MODEL_70B, gpus=4) if variant != "another template" else dra_pod(MODEL_70B)
    ask(pair["kept"], replica(base, 1))
    other = replica(VARIANTS[variant], 2)
    answers = ask(pair["kept"], other)
    assert alike_hits(pair["kept"]) == 0
    assert answers == ask(pair["computed"], other)


def test_a_dra_pod_that_pins_tp_is_never_judged_as_one_that_leaves_it_open(catalog: Catalog) -> None:
    # A claim not seen (no claim cache): each node is judged with all its GPUs. The requirement without a
    # node is the same for both pods (TP 1), but on an 8-GPU node the open one takes TP 8 and fits.
    cache = ReportCache(None)
    cache.replace([record("h100", nodes.DGX_H100)])
    decider = Decider(cache, catalog)
    open_tp, pinned = dra_pod(MODEL_70B), dra_pod(MODEL_70B, env={"NIM_TENSOR_PARALLEL_SIZE": "1"})
    body = {"Nodes": None, "NodeNames": ["h100"]}
    ask_open = decode_args(json.dumps({"Pod": open_tp, **body}).encode())
    ask_pinned = decode_args(json.dumps({"Pod": pinned, **body}).encode())
    assert decider.filter(ask_open).survivors == ["h100"]
    alone = Decider(cache, catalog).filter(ask_pinned)
    assert alone.survivors == []
    assert decider.filter(ask_pinned) == alone  # not the open pod's tables


def test_replicas_whose_pod_cannot_be_read_share_no_answer_the_reason_names_each_pod(
    pair: dict[str, LiveExtender],
) -> None:
    broken = nim_pod(MODEL_70B, gpus=1, env={"NIM_TENSOR_PARALLEL_SIZE": "4"})  # TP 4 on 1 GPU
    first = ask(pair["kept"], replica(broken, 1))
    second = ask(pair["kept"], replica(broken, 2))
    assert alike_hits(pair["kept"]) == 0
    assert b"llm-7d9f8-00001" in first[0]
    assert b"llm-7d9f8-00002" in second[0]
    assert second == ask(pair["computed"], replica(broken, 2))
