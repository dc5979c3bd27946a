"""Prioritize prefers the tightest fit: the documented examples, the bands, and integers 0-10 always."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from nimdoctor.catalog import Catalog
from nimdoctor.extender.scoring import score
from nimdoctor.placement import fit, requirement_from_model
from nimdoctor.report import Capabilities
from tests.placement import nodes

LLAMA_8B = "meta/llama-3.1-8b-instruct"
LLAMA_70B = "meta/llama-3.1-70b-instruct"


def scored(capabilities: Capabilities, model: str, catalog: Catalog, tp: int) -> int:
    requirement = requirement_from_model(model, catalog, tp=tp)
    return score(capabilities, requirement, fit(capabilities, requirement, catalog))


def test_the_examples_in_the_scoring_rule(catalog: Catalog) -> None:
    assert scored(nodes.L40S_4X, LLAMA_8B, catalog, 1) == 8
    assert scored(nodes.DGX_H100, LLAMA_8B, catalog, 1) == 6
    assert scored(nodes.DGX_H100, LLAMA_70B, catalog, 4) == 8
    assert scored(nodes.L40S_4X, LLAMA_70B, catalog, 4) == 3


def test_an_nvlink_clique_the_size_of_tp_beats_a_bigger_one(catalog: Catalog) -> None:
    four = nodes.node(gpu_count=4, max_nvlink_clique=4)
    assert scored(four, LLAMA_70B, catalog, 4) > scored(nodes.DGX_H100, LLAMA_70B, catalog, 4)


def test_a_node_the_model_does_not_fit_scores_zero(catalog: Catalog) -> None:
    assert scored(nodes.L40S_VGPU_2X, LLAMA_70B, catalog, 2) == 0
    assert scored(nodes.node(ready=False), LLAMA_8B, catalog, 1) == 0


def test_clean_fits_outrank_fits_with_warnings(catalog: Catalog) -> None:
    requirement = requirement_from_model(LLAMA_70B, catalog, tp=4)
    bands = set()
    for caps in nodes.MACHINES.values():
        verdict = fit(caps, requirement, catalog)
        value = score(caps, requirement, verdict)
        if verdict.fits and verdict.reasons:  # l40s-4x, h100-pcie-nvlink-pairs: TP 4 without NVLink
            assert 1 <= value <= 4
            bands.add("warned")
        elif verdict.fits:
            assert 5 <= value <= 10
            bands.add("clean")
    assert bands == {"warned", "clean"}


@given(
    gpus=st.integers(min_value=1, max_value=16),
    clique=st.integers(min_value=1, max_value=16),
    memory_gib=st.integers(min_value=1, max_value=200),
    tp=st.sampled_from([1, 2, 4, 8]),
    nofile=st.sampled_from([1024, 65536, msgspec.UNSET]),
)
def test_every_score_is_an_integer_from_0_to_10(
    catalog: Catalog, gpus: int, clique: int, memory_gib: int, tp: int, nofile: int
) -> None:
    caps = nodes.node(
        gpu_count=gpus, max_nvlink_clique=clique, gpu_memory_bytes=memory_gib * 2**30, nofile_soft=nofile
    )
    value = scored(caps, LLAMA_70B, catalog, tp)
    assert type(value) is int
    assert 0 <= value <= 10
