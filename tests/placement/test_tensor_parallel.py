"""NIM-FIT-011: a tensor-parallel size must split the attention heads, come in NIM's sizes, and NVIDIA's."""

from __future__ import annotations

from pathlib import Path

import pytest

from nimdoctor.catalog import Catalog, CatalogError, load_catalog
from nimdoctor.placement import fit, requirement_from_model
from nimdoctor.report import Status
from tests.placement import nodes

MIXTRAL_8X22B = "mistralai/mixtral-8x22b-instruct-v01"  # 48 attention heads
MIB = 2**20


def reasons(node: object, requirement: object, catalog: Catalog) -> dict[str, Status]:
    return {r.id: r.status for r in fit(node, requirement, catalog).reasons}  # type: ignore[arg-type]


def test_a_size_that_does_not_divide_the_heads_fails(catalog: Catalog) -> None:
    requirement = requirement_from_model("meta/llama-3.1-70b-instruct", catalog, tp=6, precision="fp8")
    verdict = fit(nodes.DGX_H100, requirement, catalog)
    assert verdict.fits is False
    found = next(r for r in verdict.reasons if r.id == "NIM-FIT-011")
    assert found.status is Status.FAIL
    assert "does not divide meta/llama-3.1-70b-instruct's 64 attention heads" in found.message
    assert "refuse to start" in found.message


def test_a_size_nim_profiles_do_not_come_in_is_a_caution(catalog: Catalog) -> None:
    requirement = requirement_from_model(MIXTRAL_8X22B, catalog, tp=3, max_model_len=8192, precision="fp8")
    found = reasons(nodes.DGX_H100, requirement, catalog)
    assert found["NIM-FIT-011"] is Status.WARN


def test_a_size_nvidia_does_not_ship_is_a_caution_naming_the_shipped_ones(catalog: Catalog) -> None:
    l40s_8x = nodes.node(
        gpu_product="L40S", gpu_memory_bytes=46068 * MIB, max_nvlink_clique=1, compute_capability="8.9"
    )
    requirement = requirement_from_model("meta/llama-3.1-70b-instruct", catalog, tp=8)
    verdict = fit(l40s_8x, requirement, catalog)
    assert verdict.fits is True
    caution = next(r for r in verdict.reasons if r.id == "NIM-FIT-011")
    assert caution.status is Status.WARN
    assert "NVIDIA ships meta/llama-3.1-70b-instruct fp8 on L40S at tensor parallel 4" in caution.message
    assert caution.short == "NIM-FIT-011 tensor-parallel size is not one NVIDIA ships here; check the profile"


def test_a_shipped_size_says_nothing_and_an_unlisted_gpu_says_generic(catalog: Catalog) -> None:
    requirement = requirement_from_model("meta/llama-3.1-70b-instruct", catalog, tp=2)
    assert "NIM-FIT-011" not in reasons(nodes.DGX_H100, requirement, catalog)
    # NVIDIA ships no engine for H100 PCIe: NIM runs a generic vLLM profile, which NIM-FIT-011 says.
    assert reasons(nodes.H100_PCIE_NVLINK_PAIRS, requirement, catalog) == {"NIM-FIT-011": Status.WARN}
    on_nim2 = requirement_from_model("meta/llama-3.1-70b-instruct", catalog, tp=2, version="2.0.3")
    assert "NIM-FIT-011" not in reasons(nodes.H100_PCIE_NVLINK_PAIRS, on_nim2, catalog)


def test_pipeline_stages_of_a_model_name_mean_several_nodes(catalog: Catalog) -> None:
    requirement = requirement_from_model(
        "meta/llama-3.1-405b-instruct", catalog, tp=8, pp=2, precision="bf16"
    )
    assert requirement.single_node is False
    assert requirement.gpus == 8  # per pod: one pod per node
    assert fit(nodes.DGX_H100, requirement, catalog).fits is True


def test_profile_sizes_must_be_positive_whole_numbers(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "placement.yaml").write_text(
        "apiVersion: nimdoctor.io/v1alpha1\nkind: CheckCatalog\nchecks:\n"
        "  - id: NIM-FIT-011\n    params: {profileTensorParallel: [1, 0]}\n"
    )
    broken = load_catalog(overlay)
    with pytest.raises(CatalogError, match="profileTensorParallel"):
        fit(nodes.DGX_H100, requirement_from_model("meta/llama-3.1-8b-instruct", broken), broken)
