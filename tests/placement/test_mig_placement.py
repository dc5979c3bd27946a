"""MIG: a pod that requests a MIG device is sized against that device; whole GPUs are not on offer."""

from __future__ import annotations

import msgspec
import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.placement import (
    ModelRequest,
    RequirementError,
    fit,
    place,
    requirement_from_model,
    requirement_from_pod,
)
from nimdoctor.report import MigSlice, Status
from tests.placement import nodes
from tests.placement.pods import nim_pod

LLAMA_8B = "meta/llama-3.1-8b-instruct"
MIB = 2**20


def mig_pod(profile: str, *, count: int = 1, env: dict[str, str] | None = None) -> dict[str, object]:
    return nim_pod(LLAMA_8B, gpus=count, resource=f"nvidia.com/mig-{profile}", env=env)


def outcome(verdict_reasons: tuple[object, ...]) -> list[tuple[str, Status]]:
    return [(r.id, r.status) for r in verdict_reasons]  # type: ignore[attr-defined]


def test_a_mig_request_is_read_from_the_pod(catalog: Catalog) -> None:
    requirement = requirement_from_pod(mig_pod("3g.40gb", env={"NIM_MAX_MODEL_LEN": "32768"}), catalog)
    assert (requirement.mig_profile, requirement.gpus, requirement.tensor_parallel) == ("3g.40gb", 1, 1)
    assert (requirement.max_context, requirement.context_source) == (
        32768,
        "spec.containers[0].env NIM_MAX_MODEL_LEN",
    )


def test_a_model_that_fits_its_mig_device_fits_with_a_caution(catalog: Catalog) -> None:
    requirement = requirement_from_pod(mig_pod("3g.40gb", env={"NIM_MAX_MODEL_LEN": "32768"}), catalog)
    verdict = fit(nodes.A100_MIG, requirement, catalog)
    assert verdict.fits is True
    assert outcome(verdict.reasons) == [("NIM-FIT-009", Status.WARN)]
    caution = verdict.reasons[0]
    assert caution.short == "NIM-FIT-009 model fits its MIG device; NIM supports MIG per model and version"
    assert "cannot" not in caution.short


def test_the_mig_device_s_memory_decides_not_the_whole_gpu_s(catalog: Catalog) -> None:
    # vLLM's rule at TP 1: 15.0 GiB of weights, 16 GiB of KV cache (131072 tokens) and 3 GiB of overhead
    # fit 0.9 of a 39.25 GiB device, not of a 9.6 GiB one.
    verdict = fit(nodes.A100_MIG, requirement_from_pod(mig_pod("3g.40gb"), catalog), catalog)
    assert verdict.fits is True
    assert [r.id for r in verdict.reasons] == ["NIM-FIT-009"]
    small = fit(nodes.A100_MIG, requirement_from_pod(mig_pod("1g.10gb"), catalog), catalog)
    assert small.fits is False
    assert small.reasons[0].id == "NIM-FIT-001"
    assert "of 9.6 GiB per GPU" in small.reasons[0].message
    assert "request a 3g.40gb MIG device" in small.reasons[0].fix
    # Never a "fits" caution beside the failing memory check.
    assert "NIM-FIT-009" not in [r.id for r in small.reasons]


@pytest.mark.parametrize(
    ("pod", "message"),
    [
        (mig_pod("7g.80gb"), "has no such MIG device"),
        (mig_pod("3g.40gb", count=2, env={"NIM_TENSOR_PARALLEL_SIZE": "2"}), "no peer-to-peer"),
        (mig_pod("3g.40gb", count=3, env={"NIM_MAX_MODEL_LEN": "8192"}), "the node has 2"),
    ],
)
def test_a_mig_request_the_node_cannot_serve_fails_nim_fit_009(
    catalog: Catalog, pod: dict[str, object], message: str
) -> None:
    verdict = fit(nodes.A100_MIG, requirement_from_pod(pod, catalog), catalog)
    assert verdict.fits is False
    found = [r for r in verdict.reasons if r.id == "NIM-FIT-009"]
    assert found
    assert found[0].status is Status.FAIL
    assert message in found[0].message


def test_a_mig_request_on_a_node_without_mig_fails(catalog: Catalog) -> None:
    verdict = fit(nodes.DGX_H100, requirement_from_pod(mig_pod("3g.40gb"), catalog), catalog)
    assert verdict.fits is False
    assert outcome(verdict.reasons)[0] == ("NIM-FIT-009", Status.FAIL)


def test_a_whole_gpu_request_on_mig_gpus_fails(catalog: Catalog) -> None:
    verdict = fit(nodes.A100_MIG, requirement_from_model(LLAMA_8B, catalog, max_model_len=8192), catalog)
    assert verdict.fits is False
    # A100 PCIe: NVIDIA ships no engine for it (NIM-FIT-011's caution); the whole-GPU request fails.
    assert outcome(verdict.reasons) == [("NIM-FIT-011", Status.WARN), ("NIM-FIT-009", Status.FAIL)]
    assert "requests whole GPUs" in verdict.reasons[1].message
    assert "the smallest that holds the model: 3g.40gb" in verdict.reasons[1].message


def test_under_the_single_strategy_a_gpu_request_gets_the_mig_device(catalog: Catalog) -> None:
    single = msgspec.structs.replace(
        nodes.A100_MIG,
        mig_strategy="single",
        mig_slices=(MigSlice(profile="3g.40gb", memory_bytes=40192 * MIB, count=2),),
    )
    requirement = requirement_from_model(LLAMA_8B, catalog, max_model_len=32768)
    verdict = fit(single, requirement, catalog)
    assert verdict.fits is True
    assert outcome(verdict.reasons) == [("NIM-FIT-009", Status.WARN)]
    mixed = msgspec.structs.replace(single, mig_strategy="mixed")
    assert fit(mixed, requirement, catalog).fits is False


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"nvidia.com/gpu": 1, "nvidia.com/mig-3g.40gb": 1}, "requests both"),
        ({"nvidia.com/mig-3g.40gb": 1, "nvidia.com/mig-1g.10gb": 1}, "several MIG profiles"),
        ({"nvidia.com/mig-huge": 1}, "is not a MIG profile"),
    ],
)
def test_malformed_mig_requests_are_clear_errors(
    catalog: Catalog, resources: dict[str, int], message: str
) -> None:
    pod = nim_pod(LLAMA_8B, gpus=None)
    pod["spec"]["containers"][0]["resources"] = {"limits": resources}
    with pytest.raises(RequirementError, match=message):
        requirement_from_pod(pod, catalog)


@pytest.mark.parametrize(
    ("max_model_len", "expected"),
    [
        # Llama 3.2 1B bf16 (2.3 GiB of weights, 32 KiB of KV cache per token) plus 3 GiB within 0.9 of
        # the device: its full 131072 tokens (4 GiB) need the 2g.20gb device, 32768 tokens fit 1g.10gb.
        (None, "2g.20gb"),
        (32768, "1g.10gb"),
    ],
)
def test_a_model_question_on_mig_gpus_gets_the_smallest_mig_device_that_holds_it(
    catalog: Catalog, max_model_len: int | None, expected: str
) -> None:
    request = ModelRequest("meta/llama-3.2-1b-instruct", max_model_len=max_model_len)
    placement = place(nodes.A100_MIG, request, catalog)
    assert placement.fits is True
    assert (placement.requirement.mig_profile, placement.tried) == (expected, [1])
    assert outcome(tuple(placement.reasons)) == [("NIM-FIT-009", Status.WARN)]
    caution = placement.reasons[0]
    assert f"request nvidia.com/mig-{expected}" in caution.message
    assert f"nvidia.com/mig-{expected}: 1" in caution.fix


def test_a_model_no_mig_device_holds_fails_naming_none(catalog: Catalog) -> None:
    placement = place(nodes.A100_MIG, ModelRequest("meta/llama-3.1-70b-instruct"), catalog)
    assert placement.fits is False
    failure = next(r for r in placement.reasons if r.id == "NIM-FIT-009")
    assert failure.status is Status.FAIL
    assert "none holds the model" in failure.message
    # No MIG message says "fits" beside a failing verdict.
    assert all("fits" not in r.message for r in placement.reasons if r.id == "NIM-FIT-009")
