"""The verdict memo: same answers as an uncached evaluation, one evaluation per node shape, per catalog."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from nimdoctor.catalog import Catalog, CatalogError, load_catalog
from nimdoctor.placement import evaluate, fit, fit_nodes, requirement_from_model
from nimdoctor.placement.settings import settings
from tests.placement import nodes

LLAMA_70B = "meta/llama-3.1-70b-instruct"


def test_fit_answers_what_an_uncached_evaluation_answers(catalog: Catalog) -> None:
    for tp in (1, 2, 4, 8):
        requirement = requirement_from_model(LLAMA_70B, catalog, tp=tp)
        for caps in nodes.MACHINES.values():
            assert fit(caps, requirement, catalog) == evaluate(caps, requirement, catalog)


def test_fit_nodes_keeps_the_order_of_the_nodes(catalog: Catalog) -> None:
    requirement = requirement_from_model(LLAMA_70B, catalog, tp=2)
    machines = list(nodes.MACHINES.values()) * 3
    assert fit_nodes(machines, requirement, catalog) == [fit(c, requirement, catalog) for c in machines]


def test_nodes_of_one_shape_share_one_evaluation(catalog: Catalog) -> None:
    requirement = requirement_from_model(LLAMA_70B, catalog, tp=2)
    first = nodes.node(driver_version="535.104.05")
    same_shape = nodes.node(driver_version="550.54.15")  # the driver version does not change a verdict
    other_shape = nodes.node(gpu_memory_bytes=40960 * nodes.MIB)
    verdicts = fit_nodes([first, same_shape, other_shape], requirement, catalog)
    assert verdicts[0] is verdicts[1]
    assert verdicts[0] != verdicts[2]


def test_equal_requirements_built_twice_share_the_memo(catalog: Catalog) -> None:
    one = requirement_from_model(LLAMA_70B, catalog, tp=2)
    two = requirement_from_model(LLAMA_70B, catalog, tp=2)
    assert one is not two
    assert fit(nodes.DGX_H100, one, catalog) is fit(nodes.DGX_H100, two, catalog)


def _overlay(tmp_path: Path, params: str) -> Path:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "placement.yaml").write_text(
        "apiVersion: nimdoctor.io/v1alpha1\nkind: CheckCatalog\nchecks:\n"
        f"  - id: NIM-FIT-001\n    params: {params}\n"
    )
    return overlay


def test_each_catalog_has_its_own_thresholds_and_memo(catalog: Catalog, tmp_path: Path) -> None:
    strict = load_catalog(_overlay(tmp_path, "{usableFraction: 0.7}"))
    requirement = requirement_from_model(LLAMA_70B, catalog, tp=1, version="2.0.3")
    h200 = nodes.node(gpu_product="H200-SXM", gpu_memory_bytes=143771 * nodes.MIB)
    assert fit(h200, requirement, catalog).fits
    # fp8 under vLLM (NIM 2.x) on H200 at TP 1 needs 108.8 GiB: within 0.9 of 140.4 GiB, not within 0.7.
    verdict = fit(h200, requirement, strict)
    assert not verdict.fits
    assert [r.id for r in verdict.reasons] == ["NIM-FIT-001"]


def test_the_memo_does_not_keep_a_catalog_alive() -> None:
    catalog = load_catalog()
    requirement = requirement_from_model(LLAMA_70B, catalog, tp=2)
    fit(nodes.DGX_H100, requirement, catalog)
    ref = weakref.ref(catalog)
    del catalog
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            "{usableFraction: 1.5}",
            r"NIM-FIT-001\): field 'params.usableFraction': 1.5 is outside number 0.05..1",
        ),
        ("{usableFraction: 0}", "is outside number"),
        ('{runtimeOverheadGiBByTp: {"1": -1}}', "is outside number 0..64"),
    ],
)
def test_thresholds_out_of_range_are_a_catalog_error_at_load(
    tmp_path: Path, params: str, message: str
) -> None:
    with pytest.raises(CatalogError, match=message):
        load_catalog(_overlay(tmp_path, params))


def test_a_compute_capability_that_is_not_major_minor_is_a_catalog_error(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "placement.yaml").write_text(
        "apiVersion: nimdoctor.io/v1alpha1\nkind: CheckCatalog\nchecks:\n"
        "  - id: NIM-FIT-010\n    params: {minComputeCapability: {fp8: nine}}\n"
    )
    with pytest.raises(
        CatalogError, match=r"params.minComputeCapability': fp8: expected a compute capability"
    ):
        load_catalog(overlay)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"0": 3}', "key '0' is not a tensor-parallel size"),
        ('{"two": 3}', "is not a tensor-parallel size"),
        ("{}", "expected a mapping of names to number"),
    ],
)
def test_the_overhead_table_is_validated(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        settings(load_catalog(_overlay(tmp_path, f"{{runtimeOverheadGiBByTp: {value}}}")))
