"""Requirements from pod specs as the scheduler extender sees them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.placement import RequirementError, pod_role, requirement_from_pod
from tests.placement.pods import lws_leader, lws_worker, nim_pod

LLAMA_70B = "meta/llama-3.1-70b-instruct"
DEEPSEEK = "deepseek-ai/deepseek-r1"


def test_standalone_pod_tp_is_its_gpu_count(catalog: Catalog) -> None:
    pod = nim_pod(LLAMA_70B, gpus=2)
    assert pod_role(pod) == "standalone"
    requirement = requirement_from_pod(pod, catalog)
    assert requirement.model == LLAMA_70B
    assert (requirement.tensor_parallel, requirement.gpus, requirement.single_node) == (2, 2, True)
    assert requirement.source == "pod"


def test_gpu_count_from_requests_alone_and_as_a_string(catalog: Catalog) -> None:
    pod = nim_pod(LLAMA_70B, gpus=None)
    pod["spec"]["containers"][0]["resources"] = {"requests": {"nvidia.com/gpu": "4"}}
    assert requirement_from_pod(pod, catalog).tensor_parallel == 4


def test_the_profile_env_sets_tp_precision_and_gpu(catalog: Catalog) -> None:
    profile = "tensorrt_llm-h100_nvl-fp8-tp2-pp1-throughput"
    requirement = requirement_from_pod(
        nim_pod(LLAMA_70B, gpus=2, env={"NIM_MODEL_PROFILE": profile}), catalog
    )
    assert (requirement.tensor_parallel, requirement.precision, requirement.profile_gpu) == (
        2,
        "fp8",
        "H100-NVL",
    )
    assert requirement.profile == profile


def test_the_tensor_parallel_env_beats_the_gpu_count(catalog: Catalog) -> None:
    requirement = requirement_from_pod(
        nim_pod(LLAMA_70B, gpus=4, env={"NIM_TENSOR_PARALLEL_SIZE": "2"}), catalog
    )
    assert (requirement.tensor_parallel, requirement.gpus) == (2, 4)


def test_a_profile_needing_more_gpus_than_the_pod_requests_is_refused(catalog: Catalog) -> None:
    pod = nim_pod(LLAMA_70B, gpus=1, env={"NIM_MODEL_PROFILE": "tensorrt_llm-h100-bf16-tp2-pp1-throughput"})
    with pytest.raises(
        RequirementError, match=r"pod nim-service/llm-7d9f8-abcde: requests 1 nvidia.com/gpu but"
    ):
        requirement_from_pod(pod, catalog)


def test_a_profile_contradicting_the_tp_env_is_refused(catalog: Catalog) -> None:
    env = {"NIM_MODEL_PROFILE": "vllm-bf16-tp2-pp1", "NIM_TENSOR_PARALLEL_SIZE": "4"}
    with pytest.raises(
        RequirementError, match="NIM_TENSOR_PARALLEL_SIZE says 4 but profile 'vllm-bf16-tp2-pp1'"
    ):
        requirement_from_pod(nim_pod(LLAMA_70B, gpus=4, env=env), catalog)


def test_lws_leader_and_worker_need_tensor_gpus_each_over_pipeline_nodes(catalog: Catalog) -> None:
    leader = lws_leader(DEEPSEEK, tensor=8, pipeline=2)
    worker = lws_worker(DEEPSEEK, tensor=8, pipeline=2)
    assert (pod_role(leader), pod_role(worker)) == ("leader", "worker")
    for pod in (leader, worker):
        requirement = requirement_from_pod(pod, catalog)
        assert not requirement.single_node
        assert (requirement.tensor_parallel, requirement.pipeline_parallel, requirement.gpus) == (8, 2, 8)
        assert requirement.weights_per_gpu_bytes == round(671e9 * 1 / 16)  # R1 is published in fp8


def test_a_pod_without_operator_labels_has_no_role() -> None:
    assert pod_role(nim_pod(LLAMA_70B, labels={})) is None
    assert pod_role({"metadata": {"labels": {"leaderworkerset.sigs.k8s.io/name": "x-lws"}}}) is None


def test_annotations_declare_size_and_precision(catalog: Catalog) -> None:
    pod = nim_pod(
        "acme/house-model",
        gpus=2,
        annotations={"nimdoctor.io/model-params": "70B", "nimdoctor.io/precision": "FP8"},
    )
    requirement = requirement_from_pod(pod, catalog)
    assert (requirement.model, requirement.params_b, requirement.params_source) == (
        "acme/house-model",
        70.0,
        "annotation",
    )
    assert (requirement.precision, requirement.weights_per_gpu_bytes) == ("fp8", 35_000_000_000)


def test_a_multi_llm_nim_names_its_model_in_the_env(catalog: Catalog) -> None:
    pod = nim_pod(
        "nvidia/llm-nim",
        gpus=1,
        env={"NIM_MODEL_NAME": "/model-store", "NIM_MODEL_PATH": "hf://meta-llama/Llama-3.1-8B-Instruct"},
    )
    requirement = requirement_from_pod(pod, catalog)
    assert (requirement.model, requirement.params_b) == ("meta/llama-3.1-8b-instruct", 8.03)


def test_the_nim_container_is_found_beside_sidecars(catalog: Catalog) -> None:
    pod = nim_pod(LLAMA_70B, gpus=2)
    sidecar = {"name": "proxy", "image": "envoyproxy/envoy:v1.30", "resources": {}}
    gpu_sidecar = {
        "name": "dcgm",
        "image": "nvcr.io/nvidia/dcgm:3",
        "resources": {"limits": {"nvidia.com/gpu": 0}},
    }
    pod["spec"]["containers"] = [sidecar, gpu_sidecar, *pod["spec"]["containers"]]
    pod["spec"]["initContainers"] = [{"name": "warm", "image": "busybox", "resources": {}}]
    requirement = requirement_from_pod(pod, catalog)
    assert (requirement.model, requirement.gpus) == (LLAMA_70B, 2)


def _break(change: str) -> dict[str, Any]:
    pod = nim_pod(LLAMA_70B, gpus=2)
    container = pod["spec"]["containers"][0]
    if change == "no spec":
        del pod["spec"]
    elif change == "containers not a list":
        pod["spec"]["containers"] = {"name": "x"}
    elif change == "no containers":
        pod["spec"]["containers"] = []
    elif change == "env not a list":
        container["env"] = {"NIM_MODEL_PROFILE": "x"}
    elif change == "env entry without name":
        container["env"] = [{"value": "1"}]
    elif change == "gpu count not a number":
        container["resources"] = {"limits": {"nvidia.com/gpu": "two"}}
    elif change == "tp env not a number":
        container["env"] = [{"name": "NIM_TENSOR_PARALLEL_SIZE", "value": "two"}]
    elif change == "no gpus":
        container["resources"] = {}
    elif change == "no image":
        del container["image"]
    elif change == "bad precision annotation":
        pod["metadata"]["annotations"] = {"nimdoctor.io/precision": "fp7"}
    elif change == "bad params annotation":
        pod["metadata"]["annotations"] = {"nimdoctor.io/model-params": "big"}
    elif change == "resources not a mapping":
        container["resources"] = ["nvidia.com/gpu"]
    return pod


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no spec", "spec: expected a mapping, got nothing"),
        ("containers not a list", "spec.containers: must be a non-empty list"),
        ("no containers", "spec.containers: must be a non-empty list"),
        ("env not a list", r"spec.containers\[0\].env: must be a list"),
        ("env entry without name", r"spec.containers\[0\].env\[0\].name: missing"),
        ("gpu count not a number", r"limits\[nvidia.com/gpu\]: 'two' is not a whole number of GPUs"),
        ("tp env not a number", "NIM_TENSOR_PARALLEL_SIZE: 'two' is not a positive integer"),
        ("no gpus", "no container requests nvidia.com/gpu"),
        ("no image", r"spec.containers\[0\].image: missing"),
        ("bad precision annotation", "nimdoctor.io/precision: unknown precision 'fp7'"),
        ("bad params annotation", "nimdoctor.io/model-params: 'big' is not a number"),
        ("resources not a mapping", r"spec.containers\[0\].resources: expected a mapping, got list"),
    ],
)
def test_malformed_pods_raise_a_clear_error_naming_the_pod(
    catalog: Catalog, change: str, message: str
) -> None:
    with pytest.raises(RequirementError, match=message) as info:
        requirement_from_pod(_break(change), catalog)
    assert str(info.value).startswith("pod nim-service/llm-7d9f8-abcde: ")


@pytest.mark.parametrize("pod", [None, [], "pod", {"metadata": "x", "spec": {}}])
def test_input_that_is_not_a_pod_at_all_raises_a_clear_error(catalog: Catalog, pod: Any) -> None:
    with pytest.raises(RequirementError, match="expected a mapping"):
        requirement_from_pod(pod, catalog)


def test_reading_a_pod_does_not_change_it(catalog: Catalog) -> None:
    pod = lws_leader(DEEPSEEK, tensor=8, pipeline=2)
    before = copy.deepcopy(pod)
    requirement_from_pod(pod, catalog)
    assert pod == before
