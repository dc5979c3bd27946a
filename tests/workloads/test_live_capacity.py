"""NIM-WL-020 in a live cluster (kmock): an autoscaled NIMService whose maxReplicas exceeds the replicas
that could ever run (running + what the free GPUs fit), the fix that would close the gap, and the audit's
capacity metrics."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from nimdoctor.catalog import Catalog
from nimdoctor.workloads.audit import AuditCollector, Auditor
from tests.kube import Emulator, api_client
from tests.workloads.cluster import NFD, NOW, NS, nimservice, node, nodereport, put
from tests.workloads.conftest import judge

LLAMA_70B = {
    "repository": "nvcr.io/nim/meta/llama-3.1-70b-instruct",
    "tag": "1.3.3",
    "pullSecrets": ["ngc-secret"],
}


def gpu_node(name: str, gpus: int = 8) -> dict[str, Any]:
    """A Node whose device plugin advertises `gpus` GPUs."""
    return {**node(name, **NFD), "status": {"allocatable": {"nvidia.com/gpu": str(gpus)}}}


def autoscaled(maximum: int) -> dict[str, Any]:
    """The 70B service at 2 GPUs per pod, scaled by an HPA between 1 and `maximum` replicas."""
    return nimservice(
        "llm",
        image=LLAMA_70B,
        replicas=None,
        resources={"limits": {"nvidia.com/gpu": 2}},
        scale={"enabled": True, "hpa": {"minReplicas": 1, "maxReplicas": maximum}},
    )


def service_pod(name: str, node_name: str, gpus: int = 2, phase: str = "Running") -> dict[str, Any]:
    """A pod of NIMService `llm` as the NIM Operator labels it."""
    labels = {
        "app": "llm",
        "app.kubernetes.io/instance": "llm",
        "app.kubernetes.io/part-of": "nim-service",
        "app.kubernetes.io/managed-by": "k8s-nim-operator",
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {
            "nodeName": node_name,
            "containers": [{"name": "llm-ctr", "resources": {"limits": {"nvidia.com/gpu": gpus}}}],
        },
        "status": {"phase": phase},
    }


def fleet(live: Emulator) -> None:
    """gpu-1 (DGX H100) runs two replicas (4 GPUs); gpu-2 (DGX H100, containerd 2 at 1024 open files) none."""
    put(
        live,
        gpu_node("gpu-1"),
        gpu_node("gpu-2"),
        nodereport("gpu-2", "dgx-h100-containerd2"),
        service_pod("llm-a", "gpu-1"),
        service_pod("llm-b", "gpu-1"),
        service_pod("llm-old", "gpu-1", phase="Succeeded"),
    )


def test_a_max_beyond_what_can_run_warns_naming_the_gap_and_the_unlock(
    live: Emulator, catalog: Catalog
) -> None:
    fleet(live)
    put(live, autoscaled(10))
    finding = judge(live, catalog)["llm", "NIM-WL-020"]
    assert finding.status.value == "warn"
    assert finding.message == (
        "scale.hpa.maxReplicas 10 but at most 4 replica(s) of meta/llama-3.1-70b-instruct can run "
        "(2 running + 2 more fit): 6 short"
    )
    assert finding.evidence["unlock"] == {"check": "NIM-FIT-005", "nodes": ["gpu-2"], "replicas": 4}
    assert "would add 4, 2 still short" in str(finding.fix)
    assert finding.field == "spec.scale.hpa.maxReplicas"


def test_the_unlock_that_closes_the_gap_is_named(live: Emulator, catalog: Catalog) -> None:
    fleet(live)
    put(live, autoscaled(8))
    finding = judge(live, catalog)["llm", "NIM-WL-020"]
    assert "would add 4, which closes the gap" in str(finding.fix)


def test_a_max_that_can_run_passes(live: Emulator, catalog: Catalog) -> None:
    fleet(live)
    put(live, autoscaled(4))
    finding = judge(live, catalog)["llm", "NIM-WL-020"]
    assert (finding.status.value, finding.message) == (
        "pass",
        "maxReplicas 4 can run: 2 running + 2 more fit",
    )


def test_without_autoscaling_or_offline_it_skips(live: Emulator, catalog: Catalog) -> None:
    assert judge(live, catalog)["llm", "NIM-WL-020"].status.value == "skip"


def test_the_audit_exports_capacity_beside_max_replicas(live: Emulator, catalog: Catalog) -> None:
    fleet(live)
    put(live, autoscaled(10))
    audit = Auditor(api_client(live.url), catalog, [NS], (3, 1, 4), interval=60, clock=lambda: NOW)
    assert audit.cycle()
    registry = CollectorRegistry()
    registry.register(AuditCollector(audit))
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(generate_latest(registry).decode())
        for s in f.samples
    }
    model = "meta/llama-3.1-70b-instruct"
    assert (
        samples[
            "nimdoctor_model_capacity_replicas", (("model", model), ("namespace", NS), ("nimservice", "llm"))
        ]
        == 4
    )
    assert samples["nimdoctor_nimservice_hpa_max_replicas", (("namespace", NS), ("nimservice", "llm"))] == 10


def test_only_the_nodes_its_node_selector_allows_count(live: Emulator, catalog: Catalog) -> None:
    fleet(live)
    service = autoscaled(4)
    service["spec"]["nodeSelector"] = {"pool": "b"}
    put(live, service, {**gpu_node("gpu-2"), "metadata": {"name": "gpu-2", "labels": {**NFD, "pool": "b"}}})
    finding = judge(live, catalog)["llm", "NIM-WL-020"]
    # gpu-1's free GPUs are outside the selector; gpu-2 needs its open-file limit raised first.
    assert (finding.evidence["running"], finding.evidence["fitNow"], finding.status.value) == (2, 0, "warn")
    assert finding.evidence["unlock"]["nodes"] == ["gpu-2"]


def test_the_fleet_reuses_the_nodes_and_nodereports_the_checks_listed(
    live: Emulator, catalog: Catalog
) -> None:
    fleet(live)
    put(live, autoscaled(10))
    before = len(live.requests())
    assert judge(live, catalog)["llm", "NIM-WL-020"].status.value == "warn"
    paths = [str(r.url).split("?")[0] for r in live.requests()[before:] if r.method == "GET"]
    assert sum(p.endswith("/nodereports") for p in paths) == 1
    assert sum(p.endswith("/api/v1/nodes") for p in paths) == 1
