"""The precision assumed is what NIM would choose, and the report says why; a stated precision wins."""

from __future__ import annotations

import msgspec
import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.placement import ModelRequest, fit_nodes, place, requirement_from_pod
from tests.placement import nodes
from tests.placement.pods import nim_pod

LLAMA_70B = "meta/llama-3.1-70b-instruct"


@pytest.mark.parametrize(
    ("node", "precision", "why"),
    [
        (nodes.DGX_H100, "fp8", "fp8: NIM's choice on compute capability 8.9 and newer (this GPU: 9.0)"),
        (nodes.L40S_4X, "fp8", "(this GPU: 8.9)"),
        (nodes.HGX_A100_80GB, "bf16", "bf16: NIM's choice below compute capability 8.9 (this GPU: 8.0)"),
        (
            nodes.node(compute_capability=msgspec.UNSET, gpu_product="ACME-X1"),
            "bf16",
            "the node's compute capability is unknown",
        ),
    ],
)
def test_nim_picks_fp8_where_the_gpu_runs_it_and_says_so(
    catalog: Catalog, node: object, precision: str, why: str
) -> None:
    requirement = place(node, ModelRequest(LLAMA_70B), catalog).requirement  # type: ignore[arg-type]
    assert requirement.precision == precision
    assert requirement.precision_source == "nim-default"
    assert requirement.precision_reason is not None
    assert why in requirement.precision_reason


def test_the_compute_capability_comes_from_the_product_when_not_reported(catalog: Catalog) -> None:
    h100 = nodes.node(compute_capability=msgspec.UNSET)
    assert place(h100, ModelRequest(LLAMA_70B), catalog).requirement.precision == "fp8"


@pytest.mark.parametrize(
    ("request_", "precision", "source"),
    [
        (ModelRequest(LLAMA_70B, precision="bf16"), "bf16", "request"),
        (ModelRequest(LLAMA_70B, profile="tensorrt_llm-h100-bf16-tp4-pp1-throughput"), "bf16", "profile"),
        (ModelRequest("mistralai/mixtral-8x22b-instruct-v01"), "bf16", "default"),
        (ModelRequest("deepseek-ai/deepseek-r1"), "fp8", "published"),
        (ModelRequest("acme/house-model-70b"), "bf16", "default"),
    ],
)
def test_a_stated_precision_wins_and_models_without_fp8_stay_bf16(
    catalog: Catalog, request_: ModelRequest, precision: str, source: str
) -> None:
    requirement = place(nodes.DGX_H100, request_, catalog).requirement
    assert (requirement.precision, requirement.precision_source) == (precision, source)
    assert requirement.precision_reason


def test_the_reason_says_why_bf16_when_no_fp8_ships(catalog: Catalog) -> None:
    mixtral = place(nodes.DGX_H100, ModelRequest("mistralai/mixtral-8x22b-instruct-v01"), catalog)
    assert mixtral.requirement.precision_reason == "bf16: NVIDIA ships no fp8 profile of this model"
    unknown = place(nodes.DGX_H100, ModelRequest("acme/house-model-70b"), catalog)
    assert unknown.requirement.precision_reason == "bf16: the model is not in the catalog"


def test_the_extender_judges_one_pod_in_each_node_s_precision(catalog: Catalog) -> None:
    pod = nim_pod(LLAMA_70B, gpus=4)
    annotated = nim_pod(LLAMA_70B, gpus=4, annotations={"nimdoctor.io/precision": "fp8"})
    requirement = requirement_from_pod(pod, catalog)
    assert requirement.precision_auto
    h100, a100 = fit_nodes([nodes.DGX_H100, nodes.HGX_A100_80GB], requirement, catalog)
    assert (h100.fits, a100.fits) == (True, True)  # fp8 on H100, bf16 on A100: TP 4 holds either
    on_a100 = fit_nodes([nodes.HGX_A100_80GB], requirement_from_pod(annotated, catalog), catalog)[0]
    assert on_a100.fits is False
    assert on_a100.reasons[0].id == "NIM-FIT-010"  # fp8 asked for on compute capability 8.0
