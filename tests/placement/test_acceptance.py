"""The acceptance cases of issue 4, one test each, on the simulated machines' capabilities."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from nimdoctor.catalog import Catalog
from nimdoctor.placement import ModelRequest, fit, place, requirement_from_model, requirement_from_pod
from nimdoctor.report import Reason, Status
from tests.placement import nodes
from tests.placement.pods import nim_pod

LLAMA_8B = "meta/llama-3.1-8b-instruct"
LLAMA_70B = "meta/llama-3.1-70b-instruct"
LLAMA_405B = "meta/llama-3.1-405b-instruct"
LLAMA_33_70B = "meta/llama-3.3-70b-instruct"
NEMOTRON_49B = "nvidia/llama-3.3-nemotron-super-49b-v1"


def ids(reasons: Sequence[Reason]) -> list[str]:
    return [r.id for r in reasons]


def test_8b_fits_l40s_4x_at_tp1(catalog: Catalog) -> None:
    placement = place(nodes.L40S_4X, ModelRequest(LLAMA_8B), catalog)
    assert placement.fits
    assert placement.requirement.tensor_parallel == 1
    assert placement.tried == [1]
    assert placement.reasons == []


def test_70b_on_dgx_h100_is_fp8_at_tp2_as_nvidia_ships_it(catalog: Catalog) -> None:
    placement = place(nodes.DGX_H100, ModelRequest(LLAMA_70B), catalog)
    assert placement.fits
    requirement = placement.requirement
    assert (requirement.precision, requirement.tensor_parallel) == ("fp8", 2)
    assert requirement.precision_source == "nim-default"
    assert requirement.precision_reason is not None
    assert "NIM's choice" in requirement.precision_reason
    assert "9.0" in requirement.precision_reason
    assert placement.tried == [2]  # NVIDIA ships fp8 on H100 at TP 2, 4 and 8
    assert placement.reasons == []


def test_llama_31_70b_bf16_on_dgx_h100_is_tp4_as_nim_1_14_ships_it(catalog: Catalog) -> None:
    # NIM 1.14.0 ships Llama 3.1 70B bf16 on H100 at TP 4 only; TP 2 is a generic vLLM profile, which
    # refuses to start without room for one full-length sequence.
    placement = place(nodes.DGX_H100, ModelRequest(LLAMA_70B, precision="bf16"), catalog)
    assert placement.fits
    assert placement.tried == [4]
    requirement = placement.requirement
    assert requirement.tensor_parallel == 4
    assert requirement.weights_per_gpu_bytes == 35_300_000_000
    assert requirement.kv_cache_per_gpu_bytes == 10 * 2**30  # 40 GiB for 131072 tokens over 4 GPUs
    at_tp2 = fit(nodes.DGX_H100, requirement_from_model(LLAMA_70B, catalog, precision="bf16", tp=2), catalog)
    assert at_tp2.fits is False
    assert ids(at_tp2.reasons) == ["NIM-FIT-001", "NIM-FIT-011"]
    assert "KV cache 20.0 GiB for 131,072 tokens" in at_tp2.reasons[0].message
    assert "NIM_MAX_MODEL_LEN=15360 or less" in at_tp2.reasons[0].fix


def test_llama_33_70b_bf16_on_dgx_h100_is_tp2_with_a_capped_context(catalog: Catalog) -> None:
    # Changed on purpose (issue 16): NIM 1.14.0 ships Llama 3.3 70B bf16 on H100 at TP 2, a TensorRT-LLM
    # engine that starts with a shorter context (61,318 tokens: 0.9 x (79.6 - 65.8 - 3.5) GiB / 160 KiB).
    placement = place(nodes.DGX_H100, ModelRequest(LLAMA_33_70B, precision="bf16"), catalog)
    assert placement.fits
    assert placement.tried == [2]
    assert (placement.requirement.engine, placement.requirement.served_context) == ("tensorrt_llm", 61318)
    assert [(r.id, r.status) for r in placement.reasons] == [("NIM-FIT-001", Status.WARN)]
    assert "caps the context at about 61,000 of 131,072 tokens" in placement.reasons[0].message


def test_70b_on_48gb_l40s_is_fp8_at_tp4(catalog: Catalog) -> None:
    placement = place(nodes.L40S_4X, ModelRequest(LLAMA_70B), catalog)
    assert placement.fits
    assert (placement.requirement.precision, placement.requirement.tensor_parallel) == ("fp8", 4)
    assert placement.tried == [4]
    # No NVLink on bare-metal L40S: it runs, over PCIe, with a warning.
    assert [(r.id, r.status) for r in placement.reasons] == [("NIM-FIT-003", Status.WARN)]


def test_70b_bf16_fits_four_l40s_at_tp4_with_a_capped_context(catalog: Catalog) -> None:
    # Changed on purpose (issue 16): NIM 1.14.0 ships 70B bf16 on L40S at TP 4 (1.8.5 shipped TP 8 only);
    # its TensorRT-LLM engine serves about 89,000 of 131,072 tokens there.
    placement = place(nodes.L40S_4X, ModelRequest(LLAMA_70B, precision="bf16"), catalog)
    assert placement.fits
    assert placement.requirement.tensor_parallel == 4
    assert [(r.id, r.status) for r in placement.reasons] == [
        ("NIM-FIT-001", Status.WARN),
        ("NIM-FIT-003", Status.WARN),
    ]


def test_70b_on_l40s_vgpu_2x_fails_nim_fit_004(catalog: Catalog) -> None:
    placement = place(nodes.L40S_VGPU_2X, ModelRequest(LLAMA_70B), catalog)
    assert not placement.fits
    assert placement.reasons[0].id == "NIM-FIT-004"
    assert placement.reasons[0].status is Status.FAIL
    fix = placement.reasons[0].fix
    for option in ("passthrough", "NVLink-connected A100 or H100", "smaller model"):
        assert option in fix


def test_70b_tp2_on_h100_pcie_nvlink_pairs_fits_as_a_generic_profile(catalog: Catalog) -> None:
    # NVIDIA ships no H100 PCIe engine: NIM runs a generic vLLM profile, and NIM-FIT-011 says so.
    verdict = fit(nodes.H100_PCIE_NVLINK_PAIRS, requirement_from_model(LLAMA_70B, catalog, tp=2), catalog)
    assert verdict.fits
    assert [(r.id, r.status) for r in verdict.reasons] == [("NIM-FIT-011", Status.WARN)]


def test_70b_tp4_on_nvlink_pairs_fits_only_with_an_nvlink_warning(catalog: Catalog) -> None:
    verdict = fit(nodes.H100_PCIE_NVLINK_PAIRS, requirement_from_model(LLAMA_70B, catalog, tp=4), catalog)
    assert verdict.fits
    assert [(r.id, r.status) for r in verdict.reasons] == [
        ("NIM-FIT-003", Status.WARN),
        ("NIM-FIT-011", Status.WARN),
    ]
    assert "largest on this node has 2" in verdict.reasons[0].message


def test_the_same_nvlink_gap_on_a_vgpu_node_is_a_failure(catalog: Catalog) -> None:
    vgpu_pairs = msgspec.structs.replace(nodes.H100_PCIE_NVLINK_PAIRS, virtualization="vgpu")
    verdict = fit(vgpu_pairs, requirement_from_model(LLAMA_70B, catalog, tp=4), catalog)
    assert not verdict.fits
    assert [(r.id, r.status) for r in verdict.reasons] == [
        ("NIM-FIT-003", Status.FAIL),
        ("NIM-FIT-011", Status.WARN),
    ]


def test_405b_bf16_on_dgx_h100_needs_more_than_one_node(catalog: Catalog) -> None:
    placement = place(nodes.DGX_H100, ModelRequest(LLAMA_405B, precision="bf16"), catalog)
    assert not placement.fits
    assert placement.tried == [1, 2, 4, 8]
    assert placement.requirement.tensor_parallel == 8
    # NVIDIA ships 405B fp16 on H100 only as tp8-pp2 (two nodes): on one node a generic profile.
    assert ids(placement.reasons) == ["NIM-FIT-011", "NIM-FIT-006"]
    fix = placement.reasons[1].fix
    assert "tensor: 8" in fix
    assert "pipeline: 2" in fix
    assert "= 16 GPUs over 2 nodes" in fix


def test_405b_fp8_fits_dgx_h100_at_tp8(catalog: Catalog) -> None:
    placement = place(nodes.DGX_H100, ModelRequest(LLAMA_405B, precision="fp8"), catalog)
    assert placement.fits
    assert placement.requirement.tensor_parallel == 8
    assert placement.reasons == []


def test_49b_on_containerd2_fits_at_tp1_once_the_open_file_limit_is_raised(catalog: Catalog) -> None:
    placement = place(nodes.DGX_H100_CONTAINERD2, ModelRequest(NEMOTRON_49B), catalog)
    assert placement.fits is False
    # Changed on purpose (issue 7): the smallest TP whose only failure the fix removes, not the largest tried.
    # Changed on purpose (issue 16): NVIDIA's default there, fp8 TP 1, is a TensorRT-LLM engine that fits.
    assert placement.requirement.tensor_parallel == 1
    assert placement.tried == [1, 2, 4, 8]
    assert ids(placement.reasons) == ["NIM-FIT-005"]
    reason = placement.reasons[0]
    assert reason.status is Status.FAIL
    assert "soft limit is 1024" in reason.message
    for step in (
        "/etc/systemd/system/containerd.service.d/override.conf",
        "[Service]",
        "LimitNOFILE=65536",
        "systemctl daemon-reload",
        "systemctl restart containerd",
        "systemctl restart kubelet",
        "recreate the NIM pods",
    ):
        assert step in reason.fix


def test_8b_fits_the_containerd2_node(catalog: Catalog) -> None:
    placement = place(nodes.DGX_H100_CONTAINERD2, ModelRequest(LLAMA_8B), catalog)
    assert placement.fits
    assert placement.reasons == []


def test_unlimited_open_files_count_as_enough(catalog: Catalog) -> None:
    requirement = requirement_from_model(NEMOTRON_49B, catalog, tp=2)
    flagged = msgspec.structs.replace(nodes.DGX_H100, nofile_soft=None, nofile_unlimited=True)
    assert fit(flagged, requirement, catalog).reasons == ()
    # `None` alone (unlimited as /proc shows it) is enough too, even without the flag.
    bare = msgspec.structs.replace(nodes.DGX_H100, nofile_soft=None, nofile_unlimited=msgspec.UNSET)
    assert fit(bare, requirement, catalog).reasons == ()


def test_unknown_open_file_limit_is_a_warning_not_a_failure(catalog: Catalog) -> None:
    unknown = nodes.node(nofile_soft=msgspec.UNSET, nofile_unlimited=msgspec.UNSET)
    verdict = fit(unknown, requirement_from_model(NEMOTRON_49B, catalog, tp=2), catalog)
    assert verdict.fits
    assert [(r.id, r.status) for r in verdict.reasons] == [("NIM-FIT-005", Status.WARN)]
    fix = " ".join(verdict.reasons[0].fix.split())
    assert "soft limit on this node: not read (see NIM-RT-001 and NIM-RT-003). Make it at least 65536" in fix
    assert "of unknown" not in fix


def test_h100_fp8_profile_on_an_l40s_node_fails_nim_fit_007(catalog: Catalog) -> None:
    pod = nim_pod(LLAMA_8B, gpus=1, env={"NIM_MODEL_PROFILE": "tensorrt_llm-h100-fp8-tp1-pp1-throughput"})
    requirement = requirement_from_pod(pod, catalog)
    assert requirement.profile_gpu == "H100"
    assert requirement.precision == "fp8"
    verdict = fit(nodes.L40S_4X, requirement, catalog)
    assert not verdict.fits
    assert [(r.id, r.status) for r in verdict.reasons] == [("NIM-FIT-007", Status.FAIL)]


def test_fp8_on_a100_fails_nim_fit_010(catalog: Catalog) -> None:
    verdict = fit(nodes.HGX_A100_80GB, requirement_from_model(LLAMA_8B, catalog, precision="fp8"), catalog)
    assert not verdict.fits
    assert ids(verdict.reasons) == ["NIM-FIT-010", "NIM-FIT-011"]  # and NVIDIA ships no fp8 A100 engine
    assert "compute capability 8.9" in verdict.reasons[0].message


def test_unknown_model_without_annotation_is_a_clear_finding_not_a_guess(catalog: Catalog) -> None:
    pod = nim_pod("acme/house-model", gpus=1)
    requirement = requirement_from_pod(pod, catalog)
    assert requirement.params_b is None
    assert requirement.weights_per_gpu_bytes is None
    verdict = fit(nodes.DGX_H100, requirement, catalog)
    assert not verdict.fits
    assert len(verdict.reasons) == 1
    reason = verdict.reasons[0]
    assert (reason.id, reason.status) == ("NIM-FIT-001", Status.ERROR)
    assert reason.short == (
        "NIM-FIT-001 model size unknown; declare it with annotation nimdoctor.io/model-params"
    )
    assert "acme/house-model" in reason.message
    assert "does not guess" in reason.message
    assert 'nimdoctor.io/model-params: "70"' in reason.fix
    assert "name: acme/house-model" in reason.fix


def test_the_same_unknown_model_with_an_annotation_is_sized_from_it(catalog: Catalog) -> None:
    pod = nim_pod("acme/house-model", gpus=1, annotations={"nimdoctor.io/model-params": "13"})
    requirement = requirement_from_pod(pod, catalog)
    assert (requirement.params_b, requirement.params_source) == (13.0, "annotation")
    assert fit(nodes.DGX_H100, requirement, catalog).fits
