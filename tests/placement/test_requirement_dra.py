"""GPU counts from DRA resource claims: `requirement_from_pod` with a claim lookup, the selectors NVIDIA's
operator writes, and the per-node judgement of All and unknown counts (`fit_claimed`)."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.placement import (
    NoGpuRequested,
    RequirementError,
    fit_claimed,
    requirement_from_manifest,
    requirement_from_pod,
)
from nimdoctor.placement.claim_specs import (
    TEMPLATE,
    ClaimError,
    ClaimSpec,
    claim_spec_of,
    parse_claim_spec,
    read_selectors,
)
from nimdoctor.report import Requirement
from tests.placement import nodes
from tests.placement.pods import claim_spec, claim_template, dra_pod, nim_pod

H100_NAME = "NVIDIA H100 80GB HBM3"  # NVML's name: the DRA driver's productName attribute
# [NVIDIA] What the NIM Operator renders from draResources claimSpec selectors
# (internal/k8sutil/cel BuildExpr) and its sample
# config/samples/nim/serving/advanced/dra/auto-creation/example2 (celExpressions).
OPERATOR_PRODUCT = f'device.attributes["gpu.nvidia.com"].productName == "{H100_NAME}"'
OPERATOR_MEMORY = '(device.capacity["gpu.nvidia.com"].memory).compareTo(quantity("80Gi")) >= 0'
PLAIN_MEMORY = 'device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("80Gi")) >= 0'
SAMPLE_REGEX = (
    '(device.attributes["gpu.nvidia.com"].productName.lowerAscii().matches("^.*a100.*$") ||\n'
    ' device.attributes["gpu.nvidia.com"].productName.lowerAscii().matches("^.*h100.*$")) &&\n'
    ' device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("40Gi")) >= 0'
)
MODEL_70B = "meta/llama-3.1-70b-instruct"


def lookup_of(**templates: dict[str, Any]) -> Any:
    """A claim lookup holding these templates (name -> claim spec) in namespace nim-service."""
    specs = {name: claim_spec_of(TEMPLATE, claim_template(name, spec)) for name, spec in templates.items()}

    def lookup(kind: str, namespace: str, name: str) -> ClaimSpec | None:
        return specs.get(name) if kind == TEMPLATE and namespace == "nim-service" else None

    return lookup


def test_a_template_of_four_gpus_gives_the_pod_four_gpus_and_tp_4(catalog: Catalog) -> None:
    req = requirement_from_pod(
        dra_pod(MODEL_70B), catalog, claims=lookup_of(**{"gpu-template": claim_spec(4)})
    )
    assert (req.gpus, req.tensor_parallel, req.claims) == (4, 4, "count")
    same = requirement_from_pod(nim_pod(MODEL_70B, gpus=4), catalog)
    assert req.gpu_memory_need_bytes == same.gpu_memory_need_bytes  # the same need as with nvidia.com/gpu


def test_fewer_claimed_gpus_than_the_pods_tp_is_the_pods_own_error(catalog: Catalog) -> None:
    pod = dra_pod(MODEL_70B, env={"NIM_TENSOR_PARALLEL_SIZE": "4"})
    with pytest.raises(RequirementError, match="requests 2 GPUs through its resource claims but tensor 4"):
        requirement_from_pod(pod, catalog, claims=lookup_of(**{"gpu-template": claim_spec(2)}))


def test_a_claim_without_gpus_is_no_gpu_pod(catalog: Catalog) -> None:
    nic = claim_spec(1, device_class="nic.example.com")
    with pytest.raises(NoGpuRequested):
        requirement_from_pod(dra_pod(MODEL_70B), catalog, claims=lookup_of(**{"gpu-template": nic}))


def test_a_template_not_seen_leaves_the_count_unknown(catalog: Catalog) -> None:
    req = requirement_from_pod(dra_pod(MODEL_70B), catalog, claims=lookup_of())
    assert (req.claims, req.gpus) == ("unknown", 1)  # the least it could need, until a node is given
    at_8 = requirement_from_pod(dra_pod(MODEL_70B), catalog, claims=None, node_gpus=8)
    assert (at_8.claims, at_8.gpus, at_8.tensor_parallel) == ("unknown", 8, 8)
    fixed = dra_pod(MODEL_70B, env={"NIM_TENSOR_PARALLEL_SIZE": "4"})
    assert requirement_from_pod(fixed, catalog, node_gpus=8).gpus == 4  # a fixed TP needs its own count


def test_a_claim_reference_to_no_pod_claim_is_malformed(catalog: Catalog) -> None:
    pod = dra_pod(MODEL_70B)
    pod["spec"]["containers"][0]["resources"]["claims"] = [{"name": "other"}]
    with pytest.raises(RequirementError, match=r"names no entry of spec\.resourceClaims"):
        requirement_from_pod(pod, catalog)


def test_the_operators_selectors_are_read_and_anything_else_is_said_unread() -> None:
    for memory in (OPERATOR_MEMORY, PLAIN_MEMORY):
        read = read_selectors([{"cel": {"expression": f"{OPERATOR_PRODUCT} && {memory}"}}], "x")
        assert read.product == "H100-SXM"
        assert read.min_memory_bytes == 80 * 2**30
        assert read.unevaluable == ()
    sample = read_selectors([{"cel": {"expression": SAMPLE_REGEX}}], "x")
    assert (sample.product, sample.min_memory_bytes) == (None, None)  # an || is not narrowed
    assert len(sample.unevaluable) == 1
    assert "lowerAscii" in sample.unevaluable[0]
    part = read_selectors(
        [{"cel": {"expression": f'{OPERATOR_MEMORY} && device.attributes["x"].y == 1'}}], "x"
    )
    assert part.min_memory_bytes == 80 * 2**30  # the part that can be read still narrows
    assert part.unevaluable == ('device.attributes["x"].y == 1',)


def test_malformed_claim_specs_are_errors_not_crashes() -> None:
    for bad in ({"devices": {"requests": "x"}}, {"devices": {"requests": [{"name": "g"}]}}):
        with pytest.raises(ClaimError):
            parse_claim_spec(bad, "spec")
    zero = {
        "devices": {"requests": [{"name": "g", "exactly": {"deviceClassName": "gpu.nvidia.com", "count": 0}}]}
    }
    with pytest.raises(ClaimError, match="count"):
        parse_claim_spec(zero, "spec")
    alternatives = {"devices": {"requests": [{"name": "g", "firstAvailable": [{"name": "a"}]}]}}
    assert parse_claim_spec(alternatives, "spec").uncounted == ("g",)


def judge(catalog: Catalog, pod: dict[str, Any], caps: Any, lookup: Any = None) -> tuple[Requirement, Any]:
    base = requirement_from_pod(pod, catalog, claims=lookup)
    at = functools.partial(requirement_from_pod, pod, catalog, claims=lookup)
    return fit_claimed(caps, base, lambda gpus: at(node_gpus=gpus), catalog)


def test_allocation_mode_all_takes_every_gpu_of_the_node(catalog: Catalog) -> None:
    lookup = lookup_of(**{"gpu-template": claim_spec(None, mode="All")})
    req, verdict = judge(catalog, dra_pod(MODEL_70B), nodes.MACHINES["dgx-h100"], lookup)
    assert (req.gpus, req.tensor_parallel, verdict.fits) == (8, 8, True)
    req, verdict = judge(catalog, dra_pod(MODEL_70B), nodes.MACHINES["l40s-vgpu-2x"], lookup)
    assert req.gpus == 2
    assert verdict.fits is False


def test_an_unknown_count_admits_where_some_tp_up_to_all_gpus_fits(catalog: Catalog) -> None:
    # 8B fits one L40S vGPU: an unknown count is no reason to reject (TP 2 there would fail NIM-FIT-004).
    req, verdict = judge(catalog, dra_pod("meta/llama-3.1-8b-instruct"), nodes.MACHINES["l40s-vgpu-2x"])
    assert (req.tensor_parallel, verdict.fits) == (1, True)
    # 70B cannot fit two L40S vGPUs even with both: rejected with what decides it.
    _, verdict = judge(catalog, dra_pod(MODEL_70B), nodes.MACHINES["l40s-vgpu-2x"])
    assert verdict.fits is False
    # A node-level failure decides whatever the count: containerd's open files.
    _, verdict = judge(catalog, dra_pod(MODEL_70B), nodes.MACHINES["dgx-h100-containerd2"])
    assert verdict.fits is False
    assert [r.id for r in verdict.reasons if r.status.value == "fail"] == ["NIM-FIT-005"]


def nimservice(dra: list[dict[str, Any]], env: dict[str, str] | None = None) -> dict[str, Any]:
    """A NIMService with `spec.draResources` and no `nvidia.com/gpu`, shaped like the NIM Operator's DRA
    samples (config/samples/nim/serving/advanced/dra: an empty profile, the GPUs from the claims)."""
    return {
        "apiVersion": "apps.nvidia.com/v1alpha1",
        "kind": "NIMService",
        "metadata": {"name": "llm", "namespace": "nim-service"},
        "spec": {
            "image": {"repository": f"nvcr.io/nim/{MODEL_70B}", "tag": "1.12.0"},
            "storage": {"nimCache": {"name": "llm", "profile": ""}},
            "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
            "draResources": dra,
        },
    }


def test_the_nimservice_reader_counts_a_claim_spec_and_its_product_selector(catalog: Catalog) -> None:
    device = {
        "name": "gpu",
        "count": 4,
        "attributeSelectors": [{"key": "productName", "op": "Equal", "value": {"stringValue": H100_NAME}}],
    }
    req = requirement_from_manifest(nimservice([{"claimSpec": {"devices": [device]}}]), catalog)
    assert (req.gpus, req.tensor_parallel, req.claims, req.claim_gpu) == (4, 4, "count", "H100-SXM")


def test_the_nimservice_reader_says_a_template_holds_the_count(catalog: Catalog) -> None:
    by_template = [{"resourceClaimTemplateName": "gpu-resourceclaimtemplate"}]
    with pytest.raises(RequirementError, match="ResourceClaimTemplate gpu-resourceclaimtemplate"):
        requirement_from_manifest(nimservice(by_template), catalog)
    fixed = requirement_from_manifest(nimservice(by_template, {"NIM_TENSOR_PARALLEL_SIZE": "4"}), catalog)
    assert (fixed.gpus, fixed.claims) == (4, "unknown")
