"""NIMCache states, cache volume access modes and sizes, StorageClasses and NFD in a live cluster (kmock)."""

from __future__ import annotations

import pytest

from nimdoctor.catalog import Catalog
from tests.kube import Emulator
from tests.workloads.cluster import NS, RESOURCES, nimcache, nimservice, node, put, pvc, storage_class
from tests.workloads.conftest import judge


def remove(kube: Emulator, kind: str, name: str, namespace: str | None = NS) -> None:
    def drop() -> None:
        del kube.handler.objects[RESOURCES[kind], namespace, name]

    kube.call(drop)


@pytest.mark.parametrize(
    ("state", "status", "words"),
    [
        ("Ready", "pass", "is Ready"),
        ("InProgress", "warn", "is InProgress, not Ready: the service waits"),
        ("Failed", "fail", "Failed"),
        (None, "warn", "is no status yet"),
    ],
)
def test_nimcache_states(
    live: Emulator, catalog: Catalog, state: str | None, status: str, words: str
) -> None:
    put(live, nimcache("llama-cache", state=state))
    finding = judge(live, catalog)["llm", "NIM-WL-002"]
    assert finding.status.value == status
    assert words in finding.message


def test_missing_nimcache_fails(live: Emulator, catalog: Catalog) -> None:
    put(live, nimservice("llm", storage={"nimCache": {"name": "typo-cache"}}))
    finding = judge(live, catalog)["llm", "NIM-WL-002"]
    assert (finding.status.value, finding.message) == ("fail", "NIMCache typo-cache not found in nim-service")


def test_the_live_pvc_access_mode_decides_for_a_scaled_service(live: Emulator, catalog: Catalog) -> None:
    put(live, nimservice("llm", replicas=2))
    assert judge(live, catalog)["llm", "NIM-WL-003"].status.value == "pass"  # the PVC is RWX
    put(live, pvc("llama-cache-pvc", ["ReadWriteOnce"]))
    finding = judge(live, catalog)["llm", "NIM-WL-003"]
    assert finding.status.value == "fail"
    assert finding.message.startswith("2 pods (replicas 2) mount NIMCache llama-cache's PVC llama-cache-pvc")
    assert finding.evidence["accessModes"] == ["ReadWriteOnce"]


def test_the_live_pvc_capacity_is_what_the_size_check_reads(live: Emulator, catalog: Catalog) -> None:
    # 70.6B bf16: 132 GiB of weights, 264 GiB recommended (4 GB per billion parameters); the manifest asks
    # for 50Gi, the PVC has more.
    put(live, nimcache("llama-cache", puller="nvcr.io/nim/meta/llama-3.1-70b-instruct:1.3.3"))
    for capacity, status in (("300Gi", "pass"), ("200Gi", "warn"), ("100Gi", "fail")):
        put(live, pvc("llama-cache-pvc", ["ReadWriteMany"], capacity=capacity))
        finding = judge(live, catalog)["llama-cache", "NIM-WL-004"]
        assert finding.status.value == status, capacity
        assert finding.message.startswith(f"PVC llama-cache-pvc ({capacity.removesuffix('Gi')} GiB)")


def test_no_default_storage_class_leaves_a_new_cache_pvc_pending(live: Emulator, catalog: Catalog) -> None:
    remove(live, "PersistentVolumeClaim", "llama-cache-pvc")
    assert judge(live, catalog)["llama-cache", "NIM-WL-014"].status.value == "pass"  # default "rwx"
    put(live, storage_class("rwx", default=False))
    finding = judge(live, catalog)["llama-cache", "NIM-WL-014"]
    assert finding.status.value == "fail"
    assert "names no StorageClass and the cluster has no default one" in finding.message
    assert "storageclass.kubernetes.io/is-default-class" in str(finding.fix)


def test_a_storage_class_that_does_not_exist(live: Emulator, catalog: Catalog) -> None:
    remove(live, "PersistentVolumeClaim", "llama-cache-pvc")
    cache = nimcache("llama-cache")
    cache["spec"]["storage"]["pvc"]["storageClass"] = "vsan-file"
    put(live, cache)
    finding = judge(live, catalog)["llama-cache", "NIM-WL-014"]
    assert finding.status.value == "fail"
    assert finding.message == "PVC llama-cache-pvc names StorageClass vsan-file, which does not exist"
    assert finding.field == "spec.storage.pvc.storageClass"


def test_no_node_with_the_nfd_label_fails_the_default_cache_selector(
    live: Emulator, catalog: Catalog
) -> None:
    put(live, node("gpu-1", **{"nvidia.com/gpu.present": "true"}))
    finding = judge(live, catalog)["llama-cache", "NIM-WL-013"]
    assert finding.status.value == "fail"
    assert "Node Feature Discovery is missing" in finding.message
    cache = nimcache("llama-cache", nodeSelector={"nvidia.com/gpu.present": "true"})
    put(live, cache)
    assert judge(live, catalog)["llama-cache", "NIM-WL-013"].status.value == "pass"
