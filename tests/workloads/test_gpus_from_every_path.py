"""A NIMService's GPUs from every path the operator and Kubernetes offer: `nvidia.com/gpu`, `nvidia.com/pgpu`
(passthrough, confidential computing), MIG resources and DRA (`draResources`: the device count of the claim,
its template or its creation spec, default 1). A DRA service is judged, never an error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from nimdoctor.catalog import Catalog
from nimdoctor.cli import cli
from nimdoctor.workloads.model import Inputs, ObjectRef, Subject, World
from nimdoctor.workloads.rules.shape import dra_gpus, gpu_count, gpus_per_pod
from tests.kube import Emulator
from tests.workloads.cluster import nimservice, put
from tests.workloads.conftest import judge

NO_CACHE: dict[str, Any] = {"emptyDir": {}}


@pytest.mark.parametrize(
    "gpus",
    [
        {
            "draResources": [
                {"claimCreationSpec": {"devices": [{"name": "gpu", "deviceClassName": "gpu.nvidia.com"}]}}
            ]
        },
        {"draResources": [{"resourceClaimTemplateName": "gpu-template"}]},
        {"resources": {"limits": {"nvidia.com/pgpu": 1}}},
    ],
    ids=["dra-creation-spec", "dra-template", "pgpu"],
)
def test_service_whose_gpus_do_not_come_from_nvidia_com_gpu_fits(
    live: Emulator, catalog: Catalog, gpus: dict[str, Any]
) -> None:
    service = nimservice("llm", storage=NO_CACHE, **gpus)
    if "draResources" in gpus:
        del service["spec"]["resources"]
    put(live, service)
    finding = judge(live, catalog)["llm", "NIM-WL-011"]
    assert finding.status.value == "pass", finding.message  # was: error, "the pod would get no GPU"


def subject(spec: dict[str, Any]) -> Subject:
    return Subject(ref=ObjectRef("NIMService", "team", "llm"), spec=spec)


def test_dra_device_count_comes_from_the_template_in_the_input(catalog: Catalog) -> None:
    requests = [
        {"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com", "count": 2}},
        {"name": "nic", "exactly": {"deviceClassName": "rdma.example.com", "count": 4}},  # not a GPU
    ]
    template: dict[str, Any] = {"spec": {"spec": {"devices": {"requests": requests}}}}
    world = World(catalog=catalog, inputs=Inputs(claims={("ResourceClaimTemplate", "team", "two"): template}))
    spec = {"draResources": [{"resourceClaimTemplateName": "two"}]}
    assert dra_gpus(subject(spec), world) == (2, "spec.draResources")
    spec = {"draResources": [{"resourceClaimTemplateName": "absent"}]}
    assert dra_gpus(subject(spec), world) == (
        1,
        "spec.draResources; ResourceClaimTemplate absent counted as 1 device",
    )


def test_dra_creation_spec_counts_its_devices_default_one(catalog: Catalog) -> None:
    spec = {"draResources": [{"claimCreationSpec": {"devices": [{"name": "a", "count": 4}, {"name": "b"}]}}]}
    assert gpus_per_pod(subject(spec), World(catalog=catalog)) == (5, "spec.draResources")


@pytest.mark.parametrize(
    ("resource", "count"), [("nvidia.com/gpu", 2), ("nvidia.com/pgpu", 1), ("nvidia.com/mig-3g.40gb", 1)]
)
def test_every_device_plugin_gpu_resource_counts(resource: str, count: int) -> None:
    spec = {"resources": {"limits": {resource: count, "cpu": "4"}}}
    assert gpu_count(spec) == (count, ("resources", "limits", resource))


DRA_LINT = """\
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {{name: gpus, namespace: team}}
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly: {{deviceClassName: gpu.nvidia.com, allocationMode: ExactCount, count: {count}}}
---
apiVersion: apps.nvidia.com/v1alpha1
kind: NIMService
metadata: {{name: llm, namespace: team}}
spec:
  image: {{repository: nvcr.io/nim/meta/llama-3.1-8b-instruct, tag: "1.3.3", pullSecrets: [ngc-secret]}}
  authSecret: ngc-api-secret
  storage:
    nimCache: {{name: {cache}, profile: tensorrt_llm-h100-fp8-tp2-pp1-throughput}}
  draResources:
  - resourceClaimTemplateName: {template}
"""


@pytest.mark.parametrize(
    ("count", "template", "status"), [(2, "gpus", "pass"), (1, "gpus", "fail"), (1, "elsewhere", "skip")]
)
def test_dra_device_count_is_compared_with_the_profile_in_lint(
    tmp_path: Path, count: int, template: str, status: str
) -> None:
    path = tmp_path / "dra.yaml"
    path.write_text(DRA_LINT.format(count=count, template=template, cache="llama"))
    report = json.loads(CliRunner().invoke(cli, ["lint", str(path), "-o", "json"]).stdout)
    finding = next(f for f in report["findings"] if f["id"] == "NIM-WL-010")
    assert finding["status"] == status, finding["message"]
    if status == "fail":
        assert finding["message"].startswith("draResources devices: 1, but profile tensorrt_llm-h100-fp8-tp2")
        assert finding["line"] == 19


CREATION_SPECS = [
    # A NIC beside the GPUs is not a GPU (placement has always left other device classes out).
    [{"name": "gpu", "count": 2}, {"name": "nic", "deviceClassName": "rdma.example.com", "count": 4}],
    [{"name": "a", "count": 4}, {"name": "b"}],
    [{"name": "gpu", "deviceClassName": "gpu.nvidia.com"}],
]


@pytest.mark.parametrize("devices", CREATION_SPECS, ids=["gpu-and-nic", "count-and-default", "one"])
def test_lint_and_placement_count_a_creation_spec_alike(catalog: Catalog, devices: list[Any]) -> None:
    from nimdoctor.placement.dra import nimservice_claims

    spec = {"draResources": [{"claimCreationSpec": {"devices": devices}}]}
    placement = nimservice_claims(spec, "llm")
    assert placement is not None
    assert dra_gpus(subject(spec), World(catalog=catalog)) == (placement.count, "spec.draResources")


def test_a_creation_spec_with_no_gpu_device_counts_as_one_and_says_so(catalog: Catalog) -> None:
    nic = {"name": "nic", "deviceClassName": "rdma.x"}
    spec = {"draResources": [{"claimCreationSpec": {"devices": [nic]}}]}
    assert dra_gpus(subject(spec), World(catalog=catalog)) == (
        1,
        "spec.draResources; spec.draResources[0] asks for no gpu.nvidia.com device, counted as 1",
    )


def test_a_template_taking_every_gpu_counts_as_one_and_says_so(catalog: Catalog) -> None:
    every = {"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com", "allocationMode": "All"}}
    template: dict[str, Any] = {"spec": {"spec": {"devices": {"requests": [every]}}}}
    world = World(catalog=catalog, inputs=Inputs(claims={("ResourceClaimTemplate", "team", "all"): template}))
    spec = {"draResources": [{"resourceClaimTemplateName": "all"}]}
    assert dra_gpus(subject(spec), world) == (
        1,
        "spec.draResources; ResourceClaimTemplate all takes every matching GPU of its node, counted as 1",
    )
