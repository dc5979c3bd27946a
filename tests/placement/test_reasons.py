"""Each NIM-FIT reason: when it fails or warns, its precedence, and its fixed short text."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.placement import (
    PRECEDENCE,
    ModelRequest,
    evaluate,
    fit,
    place,
    requirement_from_model,
    requirement_from_pod,
)
from nimdoctor.report import Capabilities, Requirement, Status
from tests.placement import nodes
from tests.placement.pods import nim_pod

LLAMA_8B = "meta/llama-3.1-8b-instruct"
LLAMA_70B = "meta/llama-3.1-70b-instruct"
LLAMA_405B = "meta/llama-3.1-405b-instruct"
UNSET = msgspec.UNSET


def outcome(caps: Capabilities, requirement: Requirement, catalog: Catalog) -> list[tuple[str, Status]]:
    return [(r.id, r.status) for r in fit(caps, requirement, catalog).reasons]


def test_precedence_is_the_documented_order_over_every_placement_check(catalog: Catalog) -> None:
    assert PRECEDENCE == (
        "NIM-FIT-008",  # not ready
        "NIM-FIT-002",  # GPU count
        "NIM-FIT-001",  # memory
        "NIM-FIT-004",  # vGPU multi-GPU
        "NIM-FIT-003",  # NVLink
        "NIM-FIT-010",  # precision
        "NIM-FIT-011",  # tensor-parallel size
        "NIM-FIT-007",  # profile
        "NIM-FIT-009",  # MIG
        "NIM-FIT-005",  # open files
        "NIM-FIT-006",  # multi-node
    )
    assert set(PRECEDENCE) == {c for c in catalog.checks if c.startswith("NIM-FIT-")}


def test_a_node_failing_nearly_everything_lists_reasons_in_precedence(catalog: Catalog) -> None:
    requirement = requirement_from_model(
        LLAMA_405B, catalog, profile="tensorrt_llm-h100_nvl-fp8-tp4-pp1-throughput"
    )
    wreck = nodes.node(
        ready=False,
        gpu_count=2,
        gpu_product="A100-SXM",
        gpu_memory_bytes=46068 * nodes.MIB,
        max_nvlink_clique=1,
        virtualization="vgpu",
        compute_capability="8.0",
        mig_enabled=True,
        nofile_soft=1024,
    )
    assert [r[0] for r in outcome(wreck, requirement, catalog)] == [
        "NIM-FIT-008",
        "NIM-FIT-002",
        "NIM-FIT-004",
        "NIM-FIT-010",
        "NIM-FIT-007",
        "NIM-FIT-009",
        "NIM-FIT-005",
        "NIM-FIT-006",
    ]


def test_memory_comes_before_nvlink(catalog: Catalog) -> None:
    # 70B bf16 at TP 4 needs 35.3 GB of weights per GPU: more than 32 GiB GPUs hold; TP 8 would fit.
    small = nodes.node(gpu_memory_bytes=32768 * nodes.MIB, max_nvlink_clique=2, compute_capability="9.0")
    requirement = requirement_from_model(LLAMA_70B, catalog, tp=4, precision="bf16")
    assert outcome(small, requirement, catalog) == [
        ("NIM-FIT-001", Status.FAIL),
        ("NIM-FIT-003", Status.WARN),
    ]


def test_not_ready_fails_first(catalog: Catalog) -> None:
    verdict = fit(nodes.node(ready=False), requirement_from_model(LLAMA_8B, catalog), catalog)
    assert not verdict.fits
    assert verdict.first is not None
    assert verdict.first.id == "NIM-FIT-008"
    assert "NodeReport" in verdict.first.fix or "nodereport" in verdict.first.fix


def test_a_pod_wanting_more_gpus_than_the_node_has_fails_gpu_count(catalog: Catalog) -> None:
    requirement = requirement_from_pod(nim_pod(LLAMA_70B, gpus=8), catalog)
    verdict = fit(nodes.L40S_4X, requirement, catalog)
    assert [r.id for r in verdict.reasons][:1] == ["NIM-FIT-002"]
    assert "requests 8 GPUs" in verdict.reasons[0].message
    assert "this node has 4" in verdict.reasons[0].fix


def test_memory_fix_names_the_tensor_parallel_size_that_fits_this_node(catalog: Catalog) -> None:
    requirement = requirement_from_pod(nim_pod(LLAMA_70B, gpus=2), catalog)
    verdict = fit(nodes.L40S_4X, requirement, catalog)
    assert [(r.id, r.status) for r in verdict.reasons] == [
        ("NIM-FIT-001", Status.FAIL),
        ("NIM-FIT-003", Status.WARN),
        ("NIM-FIT-011", Status.WARN),  # NVIDIA ships fp8 on L40S at TP 4 only
    ]
    reason = verdict.reasons[0]
    # fp8 (NIM's choice on an L40S) at TP 2, a generic vLLM profile there: 35.3 GB of weights + 40 GiB of
    # KV cache over 2 + 3.5 GiB; vLLM's 0.9 x 45.0 GiB leaves room for 26,959 tokens.
    assert "needs 56.4 GiB of 45.0 GiB per GPU" in reason.message
    assert "weights 32.9 GiB + KV cache 20.0 GiB for 131,072 tokens + overhead 3.5 GiB" in reason.message
    assert "vLLM budgets 0.9 of the GPU (40.5 GiB)" in reason.message
    assert "the largest context that fits is 26,959 tokens" in reason.message
    # The pod's image tag (:1.3.3) gives the NIM version; NVIDIA ships no L40S fp8 engine at TP 2.
    assert (
        "Engine: vLLM: the NIM 1.14.0 manifest has no optimized profile for L40S fp8 at tensor parallel 2 "
        "(NIM 1.3.3)" in reason.fix
    )
    assert "tensor parallel 4 on this node" in reason.fix
    assert "NIM_MAX_MODEL_LEN=26624 or less" in reason.fix
    assert "already runs in fp8" in reason.fix
    assert "{" not in reason.fix


def test_fixes_never_suggest_a_tensor_parallel_size_that_cannot_hold_the_model(catalog: Catalog) -> None:
    # 70B fp8 at TP 4 on L40S: NVLink is missing, but TP 1 (the clique size) cannot hold the model.
    requirement = requirement_from_model(LLAMA_70B, catalog, tp=4)
    nvlink = fit(nodes.L40S_4X, requirement, catalog).reasons[0]
    assert nvlink.id == "NIM-FIT-003"
    assert "does not hold the model" in nvlink.fix
    assert "lower the tensor-parallel size to" not in nvlink.fix
    # 8B on 2 GPUs of a 1-GPU node: TP 1 holds it, so the fix names it.
    small = fit(nodes.node(gpu_count=1), requirement_from_model(LLAMA_8B, catalog, tp=2), catalog)
    assert small.reasons[0].id == "NIM-FIT-002"
    assert "tensor parallel 1, which holds the model" in small.reasons[0].fix


def test_a_multi_node_layout_that_is_too_small_gets_more_pipeline_stages(catalog: Catalog) -> None:
    pod = nim_pod(
        "deepseek-ai/deepseek-r1",
        gpus=8,
        env={"NIM_MULTI_NODE": "1", "NIM_TENSOR_PARALLEL_SIZE": "8", "NIM_PIPELINE_PARALLEL_SIZE": "2"},
        annotations={"nimdoctor.io/precision": "bf16"},
    )
    verdict = fit(nodes.DGX_H100, requirement_from_pod(pod, catalog), catalog)
    assert [r.id for r in verdict.reasons] == ["NIM-FIT-001"]
    # 671B x 2 bytes over 8 x 72.7 GB per node: 3 stages.
    assert "tensor 8 x pipeline 3 = 24 GPUs over 3 nodes" in verdict.reasons[0].fix


def test_more_gpus_than_one_node_has_is_a_multi_node_layout(catalog: Catalog) -> None:
    pod = nim_pod(LLAMA_70B, gpus=8, env={"NIM_MODEL_PROFILE": "vllm-bf16-tp4-pp2"})
    verdict = fit(nodes.L40S_4X, requirement_from_pod(pod, catalog), catalog)
    assert [r.id for r in verdict.reasons] == ["NIM-FIT-002", "NIM-FIT-003", "NIM-FIT-006"]
    assert "tensor: 4" in verdict.reasons[-1].fix
    assert "pipeline: 2" in verdict.reasons[-1].fix


def test_multi_node_layout_on_vgpu_keeps_tensor_inside_an_nvlink_clique(catalog: Catalog) -> None:
    placement = place(nodes.L40S_VGPU_2X, ModelRequest(LLAMA_70B), catalog)
    layout = placement.reasons[-1]
    assert layout.id == "NIM-FIT-006"
    assert "tensor: 1" in layout.fix
    assert "pipeline: 3" in layout.fix  # fp8 on L40S: 65.8 GiB of weights + 40 GiB of KV cache over 3 vGPUs


def test_tp1_never_needs_nvlink(catalog: Catalog) -> None:
    requirement = requirement_from_model(LLAMA_8B, catalog)
    for caps in nodes.MACHINES.values():
        assert all(
            r.id not in ("NIM-FIT-003", "NIM-FIT-004") for r in fit(caps, requirement, catalog).reasons
        )


@pytest.mark.parametrize(
    ("profile", "node", "expected"),
    [
        ("tensorrt_llm-h100_nvl-fp8-tp1-pp1-throughput", nodes.DGX_H100, [("NIM-FIT-007", Status.WARN)]),
        ("tensorrt_llm-h100-fp8-tp1-pp1-throughput", nodes.node(gpu_product="H100-NVL"), []),
        ("tensorrt_llm-l40s-fp16-tp1-pp1-throughput", nodes.L40S_4X, []),
        ("tensorrt_llm-l40s-fp16-tp1-pp1-throughput", nodes.DGX_H100, [("NIM-FIT-007", Status.FAIL)]),
        (
            "tensorrt_llm-h100-fp8-tp1-pp1-throughput",
            nodes.node(gpu_product="H200-SXM"),
            [("NIM-FIT-007", Status.FAIL)],
        ),
        ("4f6d8c0b9e1a2f3c5d7e9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d", nodes.L40S_4X, []),
    ],
)
def test_profile_gpu_family_fails_and_variant_warns(
    catalog: Catalog, profile: str, node: Capabilities, expected: list[tuple[str, Status]]
) -> None:
    requirement = requirement_from_model(LLAMA_8B, catalog, profile=profile)
    assert outcome(node, requirement, catalog) == expected


def test_a_whole_gpu_request_on_mig_gpus_fails_naming_the_mig_devices(catalog: Catalog) -> None:
    pod = nim_pod(LLAMA_8B, gpus=1, env={"NIM_MAX_MODEL_LEN": "8192"})
    verdict = fit(nodes.A100_MIG, requirement_from_pod(pod, catalog), catalog)
    assert verdict.fits is False
    failure = verdict.reasons[-1]
    assert (failure.id, failure.status) == ("NIM-FIT-009", Status.FAIL)
    assert "2x 3g.40gb (39.2 GiB)" in failure.message
    assert "nvidia.com/mig.config=all-disabled" in failure.fix
    assert "nvidia.com/mig-3g.40gb" in failure.fix  # the smallest device that holds 8B bf16 at 8192 tokens


def test_precision_check_uses_the_product_when_compute_capability_is_missing(catalog: Catalog) -> None:
    requirement = requirement_from_model(LLAMA_8B, catalog, precision="fp8")
    a100 = msgspec.structs.replace(nodes.HGX_A100_80GB, compute_capability=UNSET)
    assert outcome(a100, requirement, catalog) == [("NIM-FIT-010", Status.FAIL), ("NIM-FIT-011", Status.WARN)]
    assert "bf16, fp16" in fit(a100, requirement, catalog).reasons[0].fix
    nothing = msgspec.structs.replace(a100, gpu_product=UNSET)
    assert ("NIM-FIT-010", Status.WARN) in outcome(nothing, requirement, catalog)


def test_fp16_has_no_compute_capability_floor_here_but_bf16_does(catalog: Catalog) -> None:
    # NVIDIA ships no T4 engine of Llama 3.2 1B: NIM runs a generic vLLM profile (NIM-FIT-011's caution).
    t4 = nodes.node(gpu_product="T4", compute_capability="7.5", gpu_memory_bytes=15360 * nodes.MIB)
    generic = ("NIM-FIT-011", Status.WARN)
    fp16 = requirement_from_model("meta/llama-3.2-1b-instruct", catalog, precision="fp16")
    assert outcome(t4, fp16, catalog) == [generic]
    assert outcome(t4, requirement_from_model("meta/llama-3.2-1b-instruct", catalog), catalog) == [
        ("NIM-FIT-010", Status.FAIL),
        generic,
    ]


@pytest.mark.parametrize(
    ("missing", "requirement_args", "expected"),
    [
        ({"gpu_count": UNSET}, {"tp": 2}, ("NIM-FIT-002", Status.WARN)),
        ({"max_nvlink_clique": UNSET}, {"tp": 2}, ("NIM-FIT-003", Status.WARN)),
        ({"nofile_soft": UNSET, "nofile_unlimited": UNSET}, {"tp": 2}, ("NIM-FIT-005", Status.WARN)),
    ],
)
def test_a_capability_the_node_did_not_report_is_a_warning(
    catalog: Catalog,
    missing: dict[str, object],
    requirement_args: dict[str, object],
    expected: tuple[str, Status],
) -> None:
    requirement = requirement_from_model(LLAMA_70B, catalog, **requirement_args)  # type: ignore[arg-type]
    verdict = fit(nodes.node(**missing), requirement, catalog)
    assert verdict.fits
    assert [(r.id, r.status) for r in verdict.reasons] == [expected]
    assert "did not report" in verdict.reasons[0].message or "unknown" in verdict.reasons[0].message


@pytest.mark.parametrize(
    ("missing", "what"),
    [({"gpu_memory_bytes": UNSET}, "GPU memory"), ({"gpu_product": UNSET}, "GPU model")],
)
def test_unknown_gpu_memory_or_model_is_unknown_never_a_fit(
    catalog: Catalog, missing: dict[str, object], what: str
) -> None:
    # Changed on purpose (issue 7): these were warnings on a fit; the verdict rests on them.
    for requirement in (
        requirement_from_model(LLAMA_8B, catalog),
        requirement_from_model(LLAMA_70B, catalog, tp=2),
    ):
        verdict = fit(nodes.node(**missing), requirement, catalog)
        assert verdict.fits is None
        assert verdict.reasons[0].id == "NIM-FIT-001"
        assert verdict.reasons[0].status is Status.ERROR
        assert f"did not report its {what}" in verdict.reasons[0].message
        assert verdict.reasons[0].short == (
            "NIM-FIT-001 GPU memory or model not reported; the fit cannot be judged"
        )
    placement = place(nodes.node(**missing), ModelRequest(LLAMA_70B), catalog)
    assert placement.fits is None
    assert placement.tried == [1] or len(placement.tried) == 1


def test_unknown_mig_state_is_not_reported(catalog: Catalog) -> None:
    assert (
        outcome(nodes.node(mig_enabled=UNSET), requirement_from_model(LLAMA_70B, catalog, tp=2), catalog)
        == []
    )


REQUESTS = [
    ModelRequest(LLAMA_8B),
    ModelRequest(LLAMA_70B),
    ModelRequest(LLAMA_70B, tp=4),
    ModelRequest(LLAMA_405B),
    ModelRequest("nvidia/llama-3.3-nemotron-super-49b-v1"),
    ModelRequest(LLAMA_8B, precision="fp8"),
    ModelRequest(LLAMA_8B, profile="tensorrt_llm-h100_nvl-fp8-tp1-pp1-throughput"),
    ModelRequest("acme/house-model"),
]
VARIANTS = [
    *nodes.MACHINES.values(),
    nodes.node(ready=False),
    nodes.node(gpu_count=UNSET, gpu_memory_bytes=UNSET, nofile_soft=UNSET, compute_capability=UNSET),
]


def test_short_texts_are_the_catalog_line_at_most_100_chars_without_percent(catalog: Catalog) -> None:
    seen = 0
    for request, caps in itertools.product(REQUESTS, VARIANTS):
        for reason in place(caps, request, catalog).reasons:
            check = catalog.get(reason.id)
            wordings = {check.short} | {v for k, v in check.params.items() if k.endswith("Short")}
            assert reason.short.removeprefix(f"{reason.id} ") in wordings
            assert len(reason.short) <= 100
            assert "%" not in reason.short
            assert "\n" not in reason.short
            assert reason.fix
            assert "{" not in reason.fix
            seen += 1
    assert seen > 30


def test_catalog_shorts_fit_the_scheduler_event_and_carry_no_node_specifics(catalog: Catalog) -> None:
    for check_id in PRECEDENCE:
        check = catalog.get(check_id)
        texts = [check.short] + [v for k, v in check.params.items() if k.endswith("Short")]
        for text in texts:
            assert len(f"{check_id} {text}") <= 100
            assert "%" not in text
            assert not any(ch.isdigit() for ch in text.replace("NIM", "").replace("fp8", "")), text


def test_nodes_failing_the_same_way_get_identical_shorts(catalog: Catalog) -> None:
    requirement = requirement_from_model(LLAMA_70B, catalog, tp=2)
    shorts: dict[str, set[str]] = {}
    messages: dict[str, set[str]] = {}
    for memory_mib, driver, nofile in itertools.product(
        (46068, 49152, 24576), ("535.1", "550.2"), (1024, 4096)
    ):
        caps = nodes.node(
            gpu_product="L40S",
            gpu_count=2,
            gpu_memory_bytes=memory_mib * nodes.MIB,
            max_nvlink_clique=1,
            virtualization="vgpu",
            driver_version=driver,
            nofile_soft=nofile,
        )
        for reason in fit(caps, requirement, catalog).reasons:
            shorts.setdefault(reason.id, set()).add(reason.short)
            messages.setdefault(reason.id, set()).add(reason.message)
    assert set(shorts) == {"NIM-FIT-004", "NIM-FIT-005", "NIM-FIT-006", "NIM-FIT-011"}
    assert all(len(s) == 1 for s in shorts.values())
    assert len(messages["NIM-FIT-006"]) > 1  # the details differ; the short line does not


def test_fits_means_no_failure_and_no_error(catalog: Catalog) -> None:
    for request, caps in itertools.product(REQUESTS, VARIANTS):
        placement = place(caps, request, catalog)
        statuses = {r.status for r in placement.reasons}
        expected = False if Status.FAIL in statuses else None if Status.ERROR in statuses else True
        assert placement.fits == expected
        assert statuses <= {Status.FAIL, Status.WARN, Status.ERROR}
        verdict = evaluate(caps, placement.requirement, catalog)
        assert verdict.reasons == tuple(placement.reasons)


def test_a_degenerate_node_gets_reasons_not_a_crash(catalog: Catalog) -> None:
    empty = nodes.node(gpu_count=0, gpu_memory_bytes=0, max_nvlink_clique=0, compute_capability="x.y")
    for request in [*REQUESTS, ModelRequest("deepseek-ai/deepseek-r1", tp=8, pp=2)]:
        placement = place(empty, request, catalog)
        assert not placement.fits
        assert placement.reasons


def test_an_empty_profile_env_is_no_profile(catalog: Catalog) -> None:
    requirement = requirement_from_pod(nim_pod(LLAMA_8B, gpus=1, env={"NIM_MODEL_PROFILE": ""}), catalog)
    assert (requirement.profile, requirement.profile_gpu) == (None, None)


def test_pipeline_stages_on_one_node_count_against_its_gpus(catalog: Catalog) -> None:
    # 405B bf16 on one 8-GPU node: tensor 2 x pipeline 2 is short of memory, and no tensor size with two
    # stages fits in 8 GPUs (tensor 8 x pipeline 2 would need 16): that is one node too few, not a TP fix.
    pod = nim_pod(LLAMA_405B, gpus=4, env={"NIM_MODEL_PROFILE": "vllm-bf16-tp2-pp2"})
    verdict = fit(nodes.DGX_H100, requirement_from_pod(pod, catalog), catalog)
    assert [r.id for r in verdict.reasons] == ["NIM-FIT-006"]
    assert "tensor: 8" in verdict.reasons[0].fix


def test_cautions_beside_a_fit_never_read_as_failures(catalog: Catalog) -> None:
    seen = 0
    for request, caps in itertools.product(REQUESTS, [*VARIANTS, nodes.A100_MIG]):
        placement = place(caps, request, catalog)
        if placement.fits is not True:
            continue
        for reason in placement.reasons:
            assert reason.status is Status.WARN
            assert not any(word in reason.short for word in ("cannot", "too low", "exceed", "fewer")), (
                reason.short
            )
            seen += 1
    assert seen > 5


def test_memory_fix_never_suggests_fp8_where_the_gpu_cannot_run_it(catalog: Catalog) -> None:
    # A100: compute capability 8.0, below fp8's 8.9 (NIM-FIT-010). 70B bf16 on one GPU does not fit.
    pod = nim_pod(LLAMA_70B, gpus=1, annotations={"nimdoctor.io/precision": "bf16"})
    verdict = fit(nodes.HGX_A100_80GB, requirement_from_pod(pod, catalog), catalog)
    failure = verdict.reasons[0]
    assert (failure.id, failure.status) == ("NIM-FIT-001", Status.FAIL)
    assert "fp8" not in failure.short
    assert "fp8 profile" not in failure.fix
    assert "A100-SXM has no fp8 support (compute capability 8.0)" in failure.fix
    # Where the GPU runs fp8 the advice stays.
    on_h100 = fit(nodes.DGX_H100, requirement_from_pod(pod, catalog), catalog).reasons[0]
    assert "use fp8" in on_h100.short
    assert "Or serve an fp8 profile" in on_h100.fix
