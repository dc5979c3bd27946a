"""What a pod holds (kube-scheduler's effective request) and how multi-node groups are counted."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nimdoctor.capacity.compute import groups
from nimdoctor.capacity.pods import PodListError, held_by_pods


def _pod(containers: list[dict[str, Any]], init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeName": "n", "containers": containers}
    if init is not None:
        spec["initContainers"] = init
    return {"metadata": {"name": "p", "namespace": "x"}, "spec": spec, "status": {"phase": "Running"}}


def _gpus(n: int, part: str = "limits", **extra: Any) -> dict[str, Any]:
    return {"name": "c", "resources": {part: {"nvidia.com/gpu": n}}, **extra}


def _held(*pods: dict[str, Any]) -> int:
    return held_by_pods(json.dumps({"items": list(pods)}).encode()).devices["n"]["nvidia.com/gpu"]


def test_containers_add_up_and_a_request_counts_as_given() -> None:
    assert _held(_pod([_gpus(2), _gpus(1, "requests")])) == 3


def test_a_plain_init_container_counts_only_when_it_asks_for_more() -> None:
    assert _held(_pod([_gpus(2)], init=[_gpus(1)])) == 2
    assert _held(_pod([_gpus(2)], init=[_gpus(4)])) == 4


def test_a_sidecar_holds_its_gpus_beside_the_containers() -> None:
    assert _held(_pod([_gpus(2)], init=[_gpus(1, restartPolicy="Always")])) == 3


def test_a_list_that_is_not_a_pod_list_is_an_error() -> None:
    with pytest.raises(PodListError, match="no items"):
        held_by_pods(b'{"kind": "Pod"}')
    with pytest.raises(PodListError, match="not a JSON pod list"):
        held_by_pods(b"items: []")


def test_a_pod_that_is_not_an_object_is_counted_as_unreadable_not_fatal() -> None:
    held = held_by_pods(json.dumps({"items": [42, _pod([_gpus(1)])]}).encode())
    assert held.devices["n"]["nvidia.com/gpu"] == 1
    assert len(held.unplaced_errors) == 1


@pytest.mark.parametrize(
    ("pods", "size", "expected"),
    [
        ([1, 1, 1], 2, 1),  # a group needs two different nodes
        ([4, 0, 0], 2, 0),  # one node alone never makes a group
        ([2, 2, 2], 2, 3),
        ([5, 1, 1, 1], 3, 1),
        ([3, 3], 1, 6),
    ],
)
def test_groups_take_each_pod_from_a_different_node(pods: list[int], size: int, expected: int) -> None:
    assert groups(pods, size) == expected
