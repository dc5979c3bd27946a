"""The wire protocol, key by key, in both modes, read back the way kube-scheduler reads it."""

from __future__ import annotations

import json
from typing import Any

from nimdoctor.extender.decide import MISSING
from tests.extender.gosched import event_message, read_filter, read_prioritize
from tests.extender.live import Client
from tests.placement.pods import nim_pod

LLAMA_8B = "meta/llama-3.1-8b-instruct"
LLAMA_70B = "meta/llama-3.1-70b-instruct"
FILTER_KEYS = ["Nodes", "NodeNames", "FailedNodes", "FailedAndUnresolvableNodes", "Error"]
MACHINES = ["dgx-h100", "l40s-4x", "l40s-vgpu-2x", "dgx-h100-containerd2", "hgx-a100-80gb"]


def node_object(name: str) -> dict[str, Any]:
    """A v1.Node as the scheduler sends it in full-node mode (trimmed, but with fields we must echo)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"nvidia.com/gpu.count": "8", "kubernetes.io/hostname": name}},
        "spec": {"podCIDR": "10.0.0.0/24"},
        "status": {
            "allocatable": {"nvidia.com/gpu": "8"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def names_request(pod: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """`nodeCacheCapable: true`: names only, `Nodes` sent as JSON null."""
    return {"Pod": pod, "Nodes": None, "NodeNames": names}


def full_request(pod: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """`nodeCacheCapable: false`: full node objects, `NodeNames` sent as JSON null."""
    return {
        "Pod": pod,
        "Nodes": {"metadata": {}, "items": [node_object(n) for n in names]},
        "NodeNames": None,
    }


def post_json(client: Client, path: str, payload: Any) -> Any:
    status, body = client.post(path, payload)
    assert status == 200, body
    return json.loads(body)


def test_names_mode_answers_in_nodenames_with_every_key_spelled_as_go_does(client: Client) -> None:
    pod = nim_pod(LLAMA_70B, gpus=4)
    status, body = client.post("/filter", names_request(pod, MACHINES))
    assert status == 200
    answer = json.loads(body)
    assert list(answer) == FILTER_KEYS
    assert answer["Nodes"] is None
    assert answer["NodeNames"] == ["dgx-h100", "l40s-4x", "hgx-a100-80gb"]
    assert answer["FailedNodes"] == {}
    assert answer["Error"] == ""
    assert sorted(answer["FailedAndUnresolvableNodes"]) == ["dgx-h100-containerd2", "l40s-vgpu-2x"]
    view = read_filter(body, MACHINES, node_cache_capable=True)
    assert view.feasible == ["dgx-h100", "l40s-4x", "hgx-a100-80gb"]
    assert set(view.feasible) | set(view.statuses) == set(MACHINES)
    assert {code for code, _ in view.statuses.values()} == {"UnschedulableAndUnresolvable"}


def test_full_node_mode_echoes_the_surviving_node_objects_in_nodes_items(client: Client) -> None:
    pod = nim_pod(LLAMA_70B, gpus=4)
    request = full_request(pod, MACHINES)
    status, body = client.post("/filter", request)
    assert status == 200
    answer = json.loads(body)
    assert list(answer) == FILTER_KEYS
    assert answer["NodeNames"] is None
    assert list(answer["Nodes"]) == ["items", "metadata"]
    assert answer["Nodes"]["items"] == [
        n
        for n in request["Nodes"]["items"]
        if n["metadata"]["name"] in ("dgx-h100", "l40s-4x", "hgx-a100-80gb")
    ]
    view = read_filter(body, MACHINES, node_cache_capable=False)
    assert view.feasible == ["dgx-h100", "l40s-4x", "hgx-a100-80gb"]
    assert sorted(view.statuses) == ["dgx-h100-containerd2", "l40s-vgpu-2x"]


def test_both_modes_reject_the_same_nodes_for_the_same_reasons(client: Client) -> None:
    pod = nim_pod(LLAMA_70B, gpus=4)
    by_name = post_json(client, "/filter", names_request(pod, MACHINES))
    full = post_json(client, "/filter", full_request(pod, MACHINES))
    assert by_name["FailedAndUnresolvableNodes"] == full["FailedAndUnresolvableNodes"]


def test_a_node_missing_from_the_cache_is_rejected_with_nim_fit_008(client: Client) -> None:
    pod = nim_pod(LLAMA_8B, gpus=1)
    answer = post_json(client, "/filter", names_request(pod, ["dgx-h100", "gpu-new-1", "gpu-new-2"]))
    assert answer["NodeNames"] == ["dgx-h100"]
    assert answer["FailedAndUnresolvableNodes"] == {"gpu-new-1": MISSING, "gpu-new-2": MISSING}
    assert MISSING.startswith("NIM-FIT-008 ")


def test_every_node_rejected_is_an_empty_survivor_list_not_null(client: Client) -> None:
    pod = nim_pod(LLAMA_70B, gpus=4)
    names = ["l40s-vgpu-2x", "dgx-h100-containerd2", "gpu-unknown"]
    status, body = client.post("/filter", names_request(pod, names))
    assert status == 200
    answer = json.loads(body)
    assert answer["NodeNames"] == []
    assert sorted(answer["FailedAndUnresolvableNodes"]) == sorted(names)
    view = read_filter(body, names, node_cache_capable=True)
    assert view.feasible == []
    message = event_message(len(names), view.statuses)
    assert message.startswith("0/3 nodes are available: 1 NIM-FIT-002 ")
    assert "1 NIM-FIT-005 large model needs a higher containerd open-file limit" in message
    assert "1 NIM-FIT-008 no nimdoctor report" in message


def test_identical_failures_give_identical_strings_that_aggregate_in_the_event(client: Client) -> None:
    pod = nim_pod(LLAMA_70B, gpus=4)
    names = ["l40s-vgpu-2x", "dgx-h100-containerd2", "gpu-a", "gpu-b"]
    status, body = client.post("/filter", names_request(pod, names))
    assert status == 200
    failed = json.loads(body)["FailedAndUnresolvableNodes"]
    assert failed["gpu-a"] == failed["gpu-b"]
    for reason in failed.values():
        assert "%" not in reason
        assert not any(name in reason for name in names)
    message = event_message(4, read_filter(body, names, node_cache_capable=True).statuses)
    assert "2 NIM-FIT-008 no nimdoctor report for this node" in message
    assert len(message.encode()) < 1024


def test_the_first_failing_reason_is_shown_not_a_leading_warning(client: Client) -> None:
    # 49B at TP 2 on a100-mig: NIM-FIT-003 warns (no NVLink pair) before NIM-FIT-009 fails (MIG).
    pod = nim_pod("nvidia/llama-3.3-nemotron-super-49b-v1", gpus=2)
    answer = post_json(client, "/filter", names_request(pod, ["a100-mig"]))
    assert answer["FailedAndUnresolvableNodes"]["a100-mig"].startswith("NIM-FIT-009 ")


def test_prioritize_returns_a_bare_array_of_integer_scores(client: Client) -> None:
    pod = nim_pod(LLAMA_8B, gpus=1)
    names = [*MACHINES, "gpu-unknown"]
    status, body = client.post("/prioritize", names_request(pod, names))
    assert status == 200
    answer = json.loads(body)
    assert isinstance(answer, list)
    assert [list(entry) for entry in answer] == [["Host", "Score"]] * len(names)
    assert [entry["Host"] for entry in answer] == names
    assert b"." not in body.replace(b"nimdoctor.io", b"")  # no float anywhere
    scores = read_prioritize(body)
    assert all(type(s) is int and 0 <= s <= 10 for s in scores.values())
    assert scores["gpu-unknown"] == 0
    assert scores["l40s-4x"] > scores["dgx-h100"] > 0


def test_pods_the_extender_does_not_judge_pass_through_untouched(client: Client) -> None:
    plain = {
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "containers": [{"name": "web", "image": "nginx", "resources": {"limits": {"nvidia.com/gpu": 1}}}]
        },
    }
    no_gpu = nim_pod(LLAMA_8B, gpus=None)
    cache_job = nim_pod(
        LLAMA_8B,
        gpus=1,
        labels={
            "app": "k8s-nim-operator",
            "app.kubernetes.io/name": "c",
            "app.kubernetes.io/managed-by": "k8s-nim-operator",
        },
    )
    names = ["l40s-vgpu-2x", "gpu-unknown"]
    for pod in (plain, no_gpu, cache_job):
        answer = post_json(client, "/filter", names_request(pod, names))
        assert answer["NodeNames"] == names
        assert answer["FailedAndUnresolvableNodes"] == {}
        scores = read_prioritize(client.post("/prioritize", names_request(pod, names))[1])
        assert scores == {"l40s-vgpu-2x": 0, "gpu-unknown": 0}


def test_a_pod_whose_spec_contradicts_itself_is_rejected_everywhere_with_the_problem(client: Client) -> None:
    pod = nim_pod(LLAMA_70B, gpus=2, env={"NIM_TENSOR_PARALLEL_SIZE": "4"})
    answer = post_json(client, "/filter", names_request(pod, ["dgx-h100", "l40s-4x"]))
    assert answer["NodeNames"] == []
    reasons = set(answer["FailedAndUnresolvableNodes"].values())
    assert len(reasons) == 1
    (reason,) = reasons
    assert reason.startswith("nimdoctor: pod nim-service/llm-7d9f8-abcde: ")
    assert "NIM fails at start" in reason
