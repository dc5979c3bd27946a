"""Node-aware checks in a live cluster (kmock): NodeReports with low open-file limits, NVLink and /dev/shm,
model fit, DRA against the cluster version, and nimdoctor's scheduler."""

from __future__ import annotations

import datetime as dt

from nimdoctor.catalog import Catalog
from tests.kube import Emulator
from tests.workloads.cluster import (
    NFD,
    NOW,
    nimcache,
    nimservice,
    node,
    nodereport,
    put,
    serve_version,
)
from tests.workloads.conftest import judge

NEMOTRON_49B = "nvcr.io/nim/nvidia/llama-3.3-nemotron-super-49b-v1:1.8.0"
LLAMA_70B = {
    "repository": "nvcr.io/nim/meta/llama-3.1-70b-instruct",
    "tag": "1.3.3",
    "pullSecrets": ["ngc-secret"],
}


def test_large_model_cache_job_on_nodes_with_a_low_open_file_limit(live: Emulator, catalog: Catalog) -> None:
    put(
        live,
        nimcache("llama-cache", puller=NEMOTRON_49B),
        node("gpu-2", **NFD),
        nodereport("gpu-2", "dgx-h100-containerd2"),  # containerd 2.x: soft limit 1024
    )
    finding = judge(live, catalog)["llama-cache", "NIM-WL-017"]
    assert finding.status.value == "fail"
    assert "caches on nodes gpu-2 whose containerd soft open-file limit is below 65536" in finding.message
    assert finding.evidence["lowNodes"] == ["gpu-2"]
    assert 'nimdoctor.io/nofile-ok: "true"' in str(finding.fix)


def test_the_nofile_ok_selector_or_good_nodes_pass(live: Emulator, catalog: Catalog) -> None:
    put(live, nimcache("llama-cache", puller=NEMOTRON_49B))
    assert judge(live, catalog)["llama-cache", "NIM-WL-017"].status.value == "pass"  # dgx-h100: 1048576
    put(
        live,
        nimcache("llama-cache", puller=NEMOTRON_49B, nodeSelector={"nimdoctor.io/nofile-ok": "true"}),
        node("gpu-2", **NFD),
        nodereport("gpu-2", "dgx-h100-containerd2"),
    )
    finding = judge(live, catalog)["llama-cache", "NIM-WL-017"]
    assert (finding.status.value, finding.field) == ("pass", "spec.nodeSelector")


def test_a_node_without_report_counts_by_the_agents_label(live: Emulator, catalog: Catalog) -> None:
    put(
        live,
        nimcache("llama-cache", puller=NEMOTRON_49B),
        node("gpu-3", **NFD, **{"nimdoctor.io/nofile-ok": "false"}),
    )
    assert judge(live, catalog)["llama-cache", "NIM-WL-017"].evidence["lowNodes"] == ["gpu-3"]


def test_tensor_parallel_without_nvlink_needs_shared_memory(live: Emulator, catalog: Catalog) -> None:
    service = nimservice("llm", resources={"limits": {"nvidia.com/gpu": 2}}, storage={"emptyDir": {}})
    put(live, service, nodereport("gpu-1", "l40s-4x"))  # PCIe only: no NVLink clique
    finding = judge(live, catalog)["llm", "NIM-WL-016"]
    assert finding.status.value == "fail"
    assert finding.message == (
        "TP 2 without NVLink and no sharedMemorySizeLimit: NCCL falls back to /dev/shm, which needs 16Gi"
    )
    service["spec"]["storage"]["sharedMemorySizeLimit"] = "16Gi"
    put(live, service)
    assert judge(live, catalog)["llm", "NIM-WL-016"].status.value == "pass"
    two_gpus = nimservice("llm", resources={"limits": {"nvidia.com/gpu": 2}}, storage={"emptyDir": {}})
    put(live, two_gpus, nodereport("gpu-1", "dgx-h100"))
    assert judge(live, catalog)["llm", "NIM-WL-016"].message == "1 node(s) have an NVLink clique of 2 GPUs"


def test_model_that_fits_no_node(live: Emulator, catalog: Catalog) -> None:
    service = nimservice(
        "big", image=LLAMA_70B, resources={"limits": {"nvidia.com/gpu": 1}}, storage={"emptyDir": {}}
    )
    put(live, service)
    finding = judge(live, catalog)["big", "NIM-WL-011"]
    assert finding.status.value == "fail"
    assert finding.message.startswith(
        "meta/llama-3.1-70b-instruct fits none of 1 node(s): 1 node(s): NIM-FIT-001"
    )
    assert "nimdoctor plan --model meta/llama-3.1-70b-instruct" in str(finding.fix)


def test_a_misfit_is_summarised_by_its_failure_not_a_warning_before_it(
    live: Emulator, catalog: Catalog
) -> None:
    # On MIG GPUs a 2-GPU pod warns about NVLink (NIM-FIT-003) before it fails on MIG (NIM-FIT-009).
    put(live, nodereport("gpu-1", "a100-mig"))
    image = {
        "repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct",
        "tag": "1.3.3",
        "pullSecrets": ["ngc-secret"],
    }
    put(live, nimservice("mig", image=image, resources={"limits": {"nvidia.com/gpu": 2}}))
    finding = judge(live, catalog)["mig", "NIM-WL-011"]
    assert finding.status.value == "fail"
    assert "1 node(s): NIM-FIT-009" in finding.message
    assert "NIM-FIT-003" not in finding.message


def test_stale_reports_are_not_used(live: Emulator, catalog: Catalog) -> None:
    put(live, nodereport("gpu-1", "dgx-h100", heartbeat=NOW - dt.timedelta(hours=1)))
    finding = judge(live, catalog)["llm", "NIM-WL-011"]
    assert finding.status.value == "skip"
    assert "no fresh NodeReport (1 stale)" in finding.message


def test_dra_on_a_cluster_older_than_1_34(live: Emulator, catalog: Catalog) -> None:
    claim = [{"name": "gpu", "resourceClaimTemplateName": "single-gpu"}]
    put(live, nimservice("llm", draResources=claim, resources={}))
    assert judge(live, catalog)["llm", "NIM-WL-012"].status.value == "pass"
    serve_version(live, "v1.33.4")
    finding = judge(live, catalog)["llm", "NIM-WL-012"]
    assert (finding.status.value, finding.message) == (
        "fail",
        "draResources need Kubernetes 1.34; the cluster runs 1.33",
    )


def test_gpu_services_are_told_about_the_installed_scheduler(live: Emulator, catalog: Catalog) -> None:
    assert judge(live, catalog)["llm", "NIM-WL-018"].message == "nimdoctor's scheduler is not installed"
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "nim-scheduler", "namespace": "nimdoctor"},
        "spec": {"holderIdentity": "nim-scheduler-0"},
    }
    put(live, lease)
    finding = judge(live, catalog)["llm", "NIM-WL-018"]
    assert (finding.status.value, finding.severity.value) == ("warn", "info")
    assert "schedulerName: nim-scheduler" in str(finding.fix)
    put(live, nimservice("llm", schedulerName="nim-scheduler"))
    assert judge(live, catalog)["llm", "NIM-WL-018"].status.value == "pass"
