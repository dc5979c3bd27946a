"""The two engine rules of NIM-FIT-001, with worked numbers from the sources.

TensorRT-LLM (the engines NVIDIA ships for a GPU, precision and TP; NIM 1.x) keeps 0.9 of the memory left
after weights and overhead for its KV pool and starts with a shorter context when one full-length sequence
does not fit (TensorRT-LLM docs `reference/memory.md`; `trtGptModelInflightBatching.cpp`). vLLM (generic
profiles; every NIM 2.x profile) budgets 0.9 of the GPU and refuses to start without room for one
full-length sequence (`vllm/v1/core/kv_cache_utils.py`). Each expected figure below is computed here from
the model card (parameters), its config.json (KV bytes per token), NVML's total (81559 MiB on an H100 SXM)
and the calibrated overhead (3.0 GiB at TP 1, 3.5 GiB at TP 2: NIM 2.0.3's min_vram_per_device_gb).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.placement import (
    ModelRequest,
    RequirementError,
    fit,
    place,
    requirement_from_manifest,
    requirement_from_model,
    requirement_from_pod,
)
from nimdoctor.report import Capabilities, Status
from tests.placement import nodes
from tests.placement.pods import nim_pod

GIB, MIB = 2**30, 2**20
H100 = 81559 * MIB
L70 = "meta/llama-3.3-70b-instruct"
N49 = "nvidia/llama-3.3-nemotron-super-49b-v1"
# KV bytes per token, bf16 cache: 2 x layers x KV heads x head dim x 2 bytes (config.json).
KV_LLAMA_70B = 2 * 80 * 8 * 128 * 2  # 320 KiB
KV_NEMOTRON_49B = 2 * 50 * 8 * 128 * 2  # 200 KiB: 50 of its 80 blocks keep attention


def trtllm_tokens(params_b: float, bytes_per_param: float, tp: int, overhead_gib: float, kv: int) -> int:
    free = H100 - params_b * 1e9 * bytes_per_param / tp - overhead_gib * GIB
    return math.floor(0.9 * free / (kv / tp))


def vllm_tokens(params_b: float, bytes_per_param: float, tp: int, overhead_gib: float, kv: int) -> int:
    room = 0.9 * H100 - params_b * 1e9 * bytes_per_param / tp - overhead_gib * GIB
    return math.floor(room / (kv / tp))


@dataclass(frozen=True)
class Case:
    name: str
    model: str
    precision: str
    tp: int
    version: str | None  # NIM version: None assumes the newest 1.x data (TensorRT-LLM where shipped)
    engine: str
    fits: bool
    served: int  # tokens of one sequence the engine serves


CASES = [
    # 70B bf16 at TP 2 (NIM 1.14.0 ships tensorrt_llm-h100-bf16-tp2): fits, context capped near 61,000.
    Case(
        "70b-bf16-tp2-trtllm",
        L70,
        "bf16",
        2,
        None,
        "tensorrt_llm",
        True,
        trtllm_tokens(70.6, 2, 2, 3.5, KV_LLAMA_70B),
    ),
    # The same on NIM 2.x (vLLM only): refuses to start; about 15,900 tokens would fit.
    Case(
        "70b-bf16-tp2-vllm",
        L70,
        "bf16",
        2,
        "2.0.3",
        "vllm",
        False,
        vllm_tokens(70.6, 2, 2, 3.5, KV_LLAMA_70B),
    ),
    # Nemotron Super 49B fp8 at TP 1 (NVIDIA's default profile on H100): the full 131,072 tokens fit.
    Case("49b-fp8-tp1-trtllm", N49, "fp8", 1, "1.10.1", "tensorrt_llm", True, 131072),
    Case(
        "49b-fp8-tp1-vllm",
        N49,
        "fp8",
        1,
        "2.0.3",
        "vllm",
        False,
        vllm_tokens(49.9, 1, 1, 3.0, KV_NEMOTRON_49B),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_engine_rule_with_worked_numbers(case: Case, catalog: Catalog) -> None:
    requirement = requirement_from_model(
        case.model, catalog, precision=case.precision, tp=case.tp, version=case.version
    )
    placement = place(
        nodes.DGX_H100,
        ModelRequest(case.model, precision=case.precision, tp=case.tp, nim_version=case.version),
        catalog,
    )
    assert fit(nodes.DGX_H100, requirement, catalog).fits is case.fits
    assert (placement.requirement.engine, placement.fits) == (case.engine, case.fits)
    assert placement.requirement.served_context == case.served


def test_the_worked_numbers_are_the_issue_s(catalog: Catalog) -> None:
    assert 61_000 <= trtllm_tokens(70.6, 2, 2, 3.5, KV_LLAMA_70B) < 62_000
    assert 15_000 <= vllm_tokens(70.6, 2, 2, 3.5, KV_LLAMA_70B) < 16_000
    assert trtllm_tokens(49.9, 1, 1, 3.0, KV_NEMOTRON_49B) >= 131072  # the pool holds a full sequence


def test_a_capped_tensorrt_llm_context_is_a_caution_naming_it(catalog: Catalog) -> None:
    placement = place(nodes.DGX_H100, ModelRequest(L70, precision="bf16", tp=2), catalog)
    assert [(r.id, r.status) for r in placement.reasons] == [("NIM-FIT-001", Status.WARN)]
    caution = placement.reasons[0]
    assert "the TensorRT-LLM engine caps the context at about 61,000 of 131,072 tokens" in caution.message
    assert "NIM-FIT-001 TensorRT-LLM engine serves a shorter context" in caution.short


def test_vllm_fails_with_the_largest_context_and_the_nim_2_option(catalog: Catalog) -> None:
    served = vllm_tokens(70.6, 2, 2, 3.5, KV_LLAMA_70B)
    placement = place(nodes.DGX_H100, ModelRequest(L70, precision="bf16", tp=2, nim_version="2.0.3"), catalog)
    failure = placement.reasons[0]
    assert (failure.id, failure.status) == ("NIM-FIT-001", Status.FAIL)
    assert f"the largest context that fits is {served:,} tokens" in failure.message
    assert f"--max-model-len={served // 1024 * 1024} or less" in failure.fix
    assert "Engine: vLLM: NIM 2.0.3 (2.x) serves every profile with vLLM" in failure.fix
    on_nim1 = nim_pod(L70, gpus=2, tag="1.14.0", env={"NIM_TENSOR_PARALLEL_SIZE": "2"})
    on_nim1["metadata"]["annotations"] = {"nimdoctor.io/precision": "bf16"}
    assert fit(nodes.DGX_H100, requirement_from_pod(on_nim1, catalog), catalog).fits is True


def test_a_pod_that_asks_for_a_context_that_fits_is_a_fit_under_vllm(catalog: Catalog) -> None:
    def pod(context: int) -> dict[str, object]:
        return nim_pod(
            L70,
            gpus=2,
            tag="2.0.3",
            env={"NIM_MAX_MODEL_LEN": str(context)},
            annotations={"nimdoctor.io/precision": "bf16"},
        )

    fits = fit(nodes.DGX_H100, requirement_from_pod(pod(15360), catalog), catalog)
    assert fits.fits is True
    assert fit(nodes.DGX_H100, requirement_from_pod(pod(16384), catalog), catalog).fits is False


@pytest.mark.parametrize(
    ("name", "model", "precision", "gpus", "node", "layout"),
    [
        ("70b-bf16-one-h100", L70, "bf16", 1, nodes.DGX_H100, "tensor parallel 2"),
        ("70b-fp8-two-l40s", L70, "fp8", 2, nodes.L40S_4X, "tensor parallel 4"),
        ("49b-bf16-one-h100", N49, "bf16", 1, nodes.DGX_H100, "tensor parallel 2"),
        ("405b-fp8-four-h100", "meta/llama-3.1-405b-instruct", "fp8", 4, nodes.DGX_H100, "tensor parallel 8"),
    ],
)
def test_deployments_that_cannot_start_are_rejected_with_the_fix(
    catalog: Catalog, name: str, model: str, precision: str, gpus: int, node: Capabilities, layout: str
) -> None:
    pod = nim_pod(model, gpus=gpus, tag="1.14.0", annotations={"nimdoctor.io/precision": precision})
    verdict = fit(node, requirement_from_pod(pod, catalog), catalog)
    assert verdict.fits is False, name
    failure = next(r for r in verdict.reasons if r.status is Status.FAIL)
    assert failure.id == "NIM-FIT-001"
    assert f"run it at {layout} on this node" in failure.fix


@pytest.mark.parametrize(
    ("tag", "version", "engine"),
    [
        ("1.14.0", "1.14.0", "tensorrt_llm"),
        ("2.0.3", "2.0.3", "vllm"),
        ("1.14.0-pb5.5-stig-fips-x86-64", "1.14.0-pb5.5-stig-fips-x86-64", "tensorrt_llm"),
        ("latest", None, "tensorrt_llm"),
    ],
)
def test_the_nim_version_comes_from_the_image_tag(
    catalog: Catalog, tag: str, version: str | None, engine: str
) -> None:
    pod = nim_pod(N49, gpus=1, tag=tag)
    requirement = requirement_from_pod(pod, catalog)
    assert requirement.nim_version == version
    placement = place(nodes.DGX_H100, ModelRequest(f"nvcr.io/nim/{N49}:{tag}"), catalog)
    assert placement.requirement.nim_version == version
    verdict_engine = fit(nodes.DGX_H100, requirement, catalog)
    assert verdict_engine.fits is (engine == "tensorrt_llm")  # fp8 TP 1: vLLM refuses, TensorRT-LLM serves
    assert placement.requirement.engine == engine
    reason = placement.requirement.engine_reason or ""
    assert ("newest 1.x profiles assumed" in reason) is (version is None)


def test_a_nimservice_image_tag_sets_the_version(catalog: Catalog) -> None:
    service = {
        "apiVersion": "apps.nvidia.com/v1alpha1",
        "kind": "NIMService",
        "metadata": {"name": "n49", "namespace": "nim"},
        "spec": {
            "image": {"repository": f"nvcr.io/nim/{N49}", "tag": "2.0.3"},
            "resources": {"limits": {"nvidia.com/gpu": 1}},
        },
    }
    requirement = requirement_from_manifest(service, catalog)
    assert requirement.nim_version == "2.0.3"
    assert fit(nodes.DGX_H100, requirement, catalog).fits is False  # fp8 TP 1 under vLLM


def test_nim_version_is_validated_and_2x_plans_a_larger_tp(catalog: Catalog) -> None:
    with pytest.raises(RequirementError, match="is not a NIM release"):
        requirement_from_model(N49, catalog, version="v-next")
    assert place(nodes.DGX_H100, ModelRequest(N49), catalog).requirement.tensor_parallel == 1
    on_nim2 = place(nodes.DGX_H100, ModelRequest(N49, nim_version="2.0.3"), catalog)
    assert (on_nim2.requirement.tensor_parallel, on_nim2.requirement.engine) == (2, "vllm")
    assert on_nim2.tried == [1, 2]


def test_generic_sizes_come_only_after_every_shipped_one(catalog: Catalog) -> None:
    # 8B bf16 on A10G: vLLM's rule would fit TP 2, but NIM 1.13.1 ships TP 4 there and runs that engine.
    a10g = nodes.node(
        gpu_product="A10G", gpu_memory_bytes=23028 * MIB, compute_capability="8.6", max_nvlink_clique=1
    )
    placement = place(a10g, ModelRequest("meta/llama-3.1-8b-instruct"), catalog)
    assert (placement.requirement.tensor_parallel, placement.requirement.engine) == (4, "tensorrt_llm")
    assert placement.tried == [4]
