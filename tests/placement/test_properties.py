"""Properties: more of any node resource, or a shorter context, never turns a fit into a non-fit; smaller
models need no more. Requests mix catalog models (architecture, shipped profiles, NIM's precision choice)
with declared sizes."""

from __future__ import annotations

import dataclasses

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from nimdoctor.catalog import Catalog, load_catalog
from nimdoctor.placement import PRECEDENCE, ModelRequest, fit, place, requirement_from_model
from nimdoctor.report import Capabilities, Requirement, Status
from tests.placement.nodes import MIB

CATALOG: Catalog = load_catalog()  # hypothesis runs examples outside pytest's fixtures
PRODUCTS = {
    "H100-SXM": "9.0",
    "H100-PCIE": "9.0",
    "H200-SXM": "9.0",
    "A100-SXM": "8.0",
    "L40S": "8.9",
    "A10G": "8.6",
    "B200-SXM": "10.0",
}
LLMS = sorted(name for name, entry in CATALOG.models.items() if entry.kind == "llm")
NOFILE_ORDER: list[int | None] = [1024, 4096, 65536, 1048576, None]  # None: unlimited, the most


@st.composite
def capabilities(draw: st.DrawFn) -> Capabilities:
    count = draw(st.integers(1, 16))
    product = draw(st.sampled_from(sorted(PRODUCTS)))
    nofile = draw(st.sampled_from([*NOFILE_ORDER, msgspec.UNSET]))
    return Capabilities(
        ready=draw(st.booleans()),
        nofile_soft=nofile,
        nofile_unlimited=msgspec.UNSET if nofile is msgspec.UNSET else nofile is None,
        gpu_product=product,
        gpu_count=count,
        gpu_memory_bytes=draw(st.integers(8_000, 200_000)) * MIB,
        max_nvlink_clique=draw(st.integers(1, count)),
        virtualization=draw(st.sampled_from(["none", "passthrough", "vgpu"])),
        mig_enabled=draw(st.booleans()),
        compute_capability=PRODUCTS[product],
    )


@st.composite
def requests(draw: st.DrawFn) -> ModelRequest:
    declared = draw(st.booleans())
    return ModelRequest(
        model="acme/model" if declared else draw(st.sampled_from(LLMS)),
        params_b=draw(st.floats(0.5, 800, allow_nan=False)) if declared else None,
        precision=draw(st.sampled_from([None, "bf16", "fp8", "fp16", "int4"])),
        tp=draw(st.sampled_from([None, 1, 2, 4, 8])),
        pp=draw(st.sampled_from([None, 1, 2])),
        max_model_len=draw(st.sampled_from([None, 4096, 32768, 131072])),
    )


def _requirement(request: ModelRequest) -> Requirement:
    return requirement_from_model(
        request.model,
        CATALOG,
        precision=request.precision,
        tp=request.tp,
        pp=request.pp,
        params_b=request.params_b,
        max_model_len=request.max_model_len,
    )


def _both_fit(before: Capabilities, after: Capabilities, request: ModelRequest) -> None:
    """If the request fits `before`, it fits `after`, with place (TP chosen) and with a fixed requirement."""
    if place(before, request, CATALOG).fits:
        assert place(after, request, CATALOG).fits
    requirement = _requirement(request)
    if fit(before, requirement, CATALOG).fits:
        assert fit(after, requirement, CATALOG).fits


@settings(max_examples=300, deadline=None)
@given(capabilities(), requests(), st.integers(1, 100_000))
def test_more_gpu_memory_never_turns_a_fit_into_a_non_fit(
    caps: Capabilities, request: ModelRequest, more_mib: int
) -> None:
    assert isinstance(caps.gpu_memory_bytes, int)
    _both_fit(
        caps, msgspec.structs.replace(caps, gpu_memory_bytes=caps.gpu_memory_bytes + more_mib * MIB), request
    )


@settings(max_examples=300, deadline=None)
@given(capabilities(), requests(), st.integers(1, 16))
def test_more_gpus_never_turn_a_fit_into_a_non_fit(
    caps: Capabilities, request: ModelRequest, more: int
) -> None:
    assert isinstance(caps.gpu_count, int)
    _both_fit(caps, msgspec.structs.replace(caps, gpu_count=caps.gpu_count + more), request)


@settings(max_examples=300, deadline=None)
@given(capabilities(), requests(), st.integers(1, 16))
def test_a_larger_nvlink_clique_never_turns_a_fit_into_a_non_fit(
    caps: Capabilities, request: ModelRequest, more: int
) -> None:
    assert isinstance(caps.max_nvlink_clique, int)
    assert isinstance(caps.gpu_count, int)
    larger = min(caps.max_nvlink_clique + more, caps.gpu_count)
    _both_fit(caps, msgspec.structs.replace(caps, max_nvlink_clique=larger), request)


@settings(max_examples=300, deadline=None)
@given(capabilities(), requests(), st.integers(1, 131072), st.integers(1, 131072))
def test_a_shorter_context_never_turns_a_fit_into_a_non_fit(
    caps: Capabilities, request: ModelRequest, a: int, b: int
) -> None:
    shorter, longer = min(a, b), max(a, b)
    long_request = dataclasses.replace(request, model=request.model, max_model_len=longer)
    short_request = dataclasses.replace(request, max_model_len=shorter)
    if place(caps, long_request, CATALOG).fits:
        assert place(caps, short_request, CATALOG).fits
    if fit(caps, _requirement(long_request), CATALOG).fits:
        assert fit(caps, _requirement(short_request), CATALOG).fits


@settings(max_examples=300, deadline=None)
@given(
    capabilities(), requests(), st.integers(0, len(NOFILE_ORDER) - 1), st.integers(0, len(NOFILE_ORDER) - 1)
)
def test_a_higher_open_file_limit_never_turns_a_fit_into_a_non_fit(
    caps: Capabilities, request: ModelRequest, low: int, high: int
) -> None:
    low, high = min(low, high), max(low, high)
    before = msgspec.structs.replace(
        caps, nofile_soft=NOFILE_ORDER[low], nofile_unlimited=NOFILE_ORDER[low] is None
    )
    after = msgspec.structs.replace(
        caps, nofile_soft=NOFILE_ORDER[high], nofile_unlimited=NOFILE_ORDER[high] is None
    )
    _both_fit(before, after, request)


@settings(max_examples=300, deadline=None)
@given(
    capabilities(),
    st.floats(0.5, 800, allow_nan=False),
    st.floats(0.5, 800, allow_nan=False),
    st.sampled_from(["bf16", "fp8", "int4"]),
    st.sampled_from([1, 2, 4, 8]),
)
def test_a_smaller_model_never_needs_more_than_a_larger_one(
    caps: Capabilities, a: float, b: float, precision: str, tp: int
) -> None:
    small_b, large_b = min(a, b), max(a, b)
    small = requirement_from_model("acme/model", CATALOG, params_b=small_b, precision=precision, tp=tp)
    large = requirement_from_model("acme/model", CATALOG, params_b=large_b, precision=precision, tp=tp)
    assert small.weights_per_gpu_bytes is not None
    assert large.weights_per_gpu_bytes is not None
    assert small.weights_per_gpu_bytes <= large.weights_per_gpu_bytes
    assert (small.min_gpu_memory_bytes or 0) <= (large.min_gpu_memory_bytes or 0)
    assert (small.min_nofile or 0) <= (large.min_nofile or 0)
    assert (small.cache_pvc_bytes or 0) <= (large.cache_pvc_bytes or 0)
    if fit(caps, large, CATALOG).fits:
        assert fit(caps, small, CATALOG).fits
    placed_large = place(caps, ModelRequest("acme/model", params_b=large_b, precision=precision), CATALOG)
    if placed_large.fits:
        placed_small = place(caps, ModelRequest("acme/model", params_b=small_b, precision=precision), CATALOG)
        assert placed_small.fits
        assert placed_small.requirement.tensor_parallel <= placed_large.requirement.tensor_parallel


@settings(max_examples=300, deadline=None)
@given(capabilities(), requests())
def test_reasons_follow_precedence_and_decide_fits(caps: Capabilities, request: ModelRequest) -> None:
    placement = place(caps, request, CATALOG)
    order = [PRECEDENCE.index(r.id) for r in placement.reasons]
    assert order == sorted(order)
    assert len(set(order)) == len(order)
    statuses = {r.status for r in placement.reasons}
    assert placement.fits == (
        False if Status.FAIL in statuses else None if Status.ERROR in statuses else True
    )
