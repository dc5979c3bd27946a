"""Which pods the extender judges: NIM inference pods with GPUs, by the NIM Operator's labels or our
annotations; never the operator's cache jobs, never a pod without GPUs."""

from __future__ import annotations

from typing import Any

import pytest

from nimdoctor.extender.pods import is_cache_job, is_nim_pod, judged, requests_gpu
from tests.placement.pods import lws_leader, lws_worker, nim_pod

LLAMA_8B = "meta/llama-3.1-8b-instruct"
LLAMA_405B = "meta/llama-3.1-405b-instruct"


def test_standalone_nimservice_pod_is_judged() -> None:
    assert judged(nim_pod(LLAMA_8B, gpus=1))


def test_leaderworkerset_leader_and_worker_are_judged() -> None:
    assert judged(lws_leader(LLAMA_405B, tensor=8, pipeline=2))
    assert judged(lws_worker(LLAMA_405B, tensor=8, pipeline=2))


def test_a_pod_the_operator_did_not_make_opts_in_with_our_annotations() -> None:
    for annotation in ("nimdoctor.io/model-params", "nimdoctor.io/precision"):
        pod = nim_pod("acme/house-model", gpus=1, labels={"app": "house"}, annotations={annotation: "13"})
        assert judged(pod)
    assert not judged(nim_pod("acme/house-model", gpus=1, labels={"app": "house"}))


def test_the_operators_cache_job_pods_are_never_judged() -> None:
    labels = {
        "app": "k8s-nim-operator",
        "app.kubernetes.io/name": "meta-llama3-8b",
        "app.kubernetes.io/managed-by": "k8s-nim-operator",
    }
    pod = nim_pod(LLAMA_8B, gpus=1, labels=labels, annotations={"nimdoctor.io/model-params": "8"})
    assert is_cache_job(pod)
    assert not is_nim_pod(pod)
    assert not judged(pod)


@pytest.mark.parametrize("gpus", [None, 0, "0"])
def test_a_nim_pod_without_gpus_is_not_judged(gpus: Any) -> None:
    pod = nim_pod(LLAMA_8B, gpus=gpus)
    assert is_nim_pod(pod)
    assert not requests_gpu(pod)
    assert not judged(pod)


def test_gpus_in_an_init_container_or_only_in_requests_count() -> None:
    pod = nim_pod(LLAMA_8B, gpus=None)
    pod["spec"]["initContainers"] = [{"name": "warm", "resources": {"requests": {"nvidia.com/gpu": "1"}}}]
    assert requests_gpu(pod)


@pytest.mark.parametrize(
    "pod",
    [
        {},
        {"metadata": None, "spec": None},
        {"metadata": {"labels": ["a"]}, "spec": {"containers": "x"}},
        {
            "metadata": {"labels": {"leaderworkerset.sigs.k8s.io/name": "x-lws"}},
            "spec": {"containers": [{"name": []}]},
        },
        {"spec": {"containers": [None, 1, {"resources": {"limits": []}}]}},
    ],
)
def test_any_json_is_read_without_an_exception(pod: dict[str, Any]) -> None:
    assert not judged(pod)
