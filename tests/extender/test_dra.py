"""DRA NIM pods against the API emulator: the extender watches NodeReports and resource claims through the
official client and judges a pod whose GPUs come from a ResourceClaimTemplate as it judges one that requests
`nvidia.com/gpu`: the same admissions, the same reasons. All and selectors; a template that arrives after the
pod; and with `--reports` (no cluster), the upper-bound rule."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kmock
import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.cluster.nodereport import GROUP, PLURAL, VERSION
from nimdoctor.cluster.watch import ListWatch, nodereport_lister
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.claims import GROUP as CLAIM_GROUP
from nimdoctor.extender.claims import VERSION as CLAIM_VERSION
from nimdoctor.extender.claims import ClaimCache
from nimdoctor.extender.run import Extender, claim_watches_of
from tests.extender.live import Client, LiveExtender
from tests.extender.simulated import write_reports
from tests.extender.test_watch import custom_objects, eventually, nodereport
from tests.kube import Emulator, api_client
from tests.placement.pods import claim_spec, claim_template, dra_pod, nim_pod

pytestmark = pytest.mark.slow

MODEL_70B = "meta/llama-3.1-70b-instruct"
NAMESPACE = "nim-service"
MIB = 2**20
L40S = {"gpuProduct": "L40S", "gpuMemoryBytes": 46068 * MIB, "maxNvlinkClique": 1, "computeCapability": "8.9"}
NODES: dict[str, dict[str, Any]] = {
    "h100-8": {},
    "h100-2": {"gpuCount": 2, "maxNvlinkClique": 2},
    "l40s-8": {**L40S, "gpuCount": 8},
    "l40s-2": {**L40S, "gpuCount": 2},
}
H100_PRODUCT = 'device.attributes["gpu.nvidia.com"].productName == "NVIDIA H100 80GB HBM3"'
REGEX_PRODUCT = 'device.attributes["gpu.nvidia.com"].productName.lowerAscii().matches("^.*h100.*$")'
NOT_SELECTED = "NIM-FIT-002 no GPU here matches the pod's resource claim selectors; check the selectors"


def declare(emulator: Emulator) -> None:
    """Serve NodeReports and the two DRA kinds."""

    def run() -> None:
        verbs = {"list", "watch", "get", "create", "patch", "delete"}
        resources = emulator.handler.resources
        resources[kmock.resource(GROUP, VERSION, PLURAL)] = kmock.ResourceInfo(
            kind="NodeReport", namespaced=False, verbs=verbs
        )
        for kind, plural in (
            ("ResourceClaimTemplate", "resourceclaimtemplates"),
            ("ResourceClaim", "resourceclaims"),
        ):
            resources[kmock.resource(CLAIM_GROUP, CLAIM_VERSION, plural)] = kmock.ResourceInfo(
                kind=kind, namespaced=True, verbs=verbs
            )

    emulator.call(run)


def fast(watch: ListWatch) -> ListWatch:
    """Short watches and backoff, for tests."""
    watch.watch_timeout, watch.read_grace, watch.backoff_base, watch.backoff_cap = 2, 1, 0.05, 0.2
    return watch


@pytest.fixture
def cluster(kube: Emulator, catalog: Catalog) -> Iterator[tuple[Emulator, LiveExtender, Client]]:
    """The emulator with four GPU nodes' reports, and an extender watching it (reports and claims)."""
    declare(kube)
    custom = custom_objects(kube)
    for name, capabilities in NODES.items():
        custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, nodereport(name, **capabilities))
    client_api = api_client(kube.url)
    cache, claims = ReportCache(900), ClaimCache()
    watch = fast(
        ListWatch(nodereport_lister(client_api), cache.apply_list, cache.apply_event, name="reports")
    )
    claim_watches = tuple(fast(w) for w in claim_watches_of(client_api, claims))
    extender = Extender.assemble(cache, catalog, watch=watch, claims=claims, claim_watches=claim_watches)
    running = LiveExtender(extender).start()
    client = running.client()
    try:
        assert cache.wait_synced(10)
        eventually(lambda: all(claims.synced(kind) for kind in ("ResourceClaimTemplate", "ResourceClaim")))
        yield kube, running, client
    finally:
        client.close()
        running.stop()


def create_template(emulator: Emulator, name: str, spec: dict[str, Any]) -> None:
    custom_objects(emulator).create_namespaced_custom_object(
        CLAIM_GROUP, CLAIM_VERSION, NAMESPACE, "resourceclaimtemplates", claim_template(name, spec)
    )


def failed(client: Client, pod: dict[str, Any], names: list[str] | None = None) -> dict[str, str]:
    """The filter's rejections for `pod` over `names` (default: every node)."""
    asked = names or list(NODES)
    status, body = client.post("/filter", {"Pod": pod, "Nodes": None, "NodeNames": asked})
    assert status == 200, body
    answer = json.loads(body)
    assert sorted(answer["NodeNames"] + list(answer["FailedAndUnresolvableNodes"])) == sorted(asked)
    result: dict[str, str] = answer["FailedAndUnresolvableNodes"]
    return result


def scores(client: Client, pod: dict[str, Any]) -> list[Any]:
    """The prioritize answer for `pod` over every node."""
    status, body = client.post("/prioritize", {"Pod": pod, "Nodes": None, "NodeNames": list(NODES)})
    assert status == 200, body
    result: list[Any] = json.loads(body)
    return result


def metric(client: Client, name: str) -> float:
    """One sample's value from the webhook's /metrics (0 when absent)."""
    text = client.get("/metrics")[1].decode()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_a_template_of_four_gpus_is_judged_as_four_nvidia_gpus(
    cluster: tuple[Emulator, LiveExtender, Client],
) -> None:
    emulator, _, client = cluster
    create_template(emulator, "gpu-template", claim_spec(4))
    pod = dra_pod(MODEL_70B)
    eventually(lambda: "h100-2" in failed(client, pod))
    answer = failed(client, pod)
    assert "h100-8" not in answer  # 4 GPUs fit there
    assert answer["h100-2"].startswith("NIM-FIT-002 node has fewer GPUs than the pod requests")
    assert answer == failed(client, nim_pod(MODEL_70B, gpus=4))  # the same admissions, the same reasons
    assert scores(client, pod) == scores(client, nim_pod(MODEL_70B, gpus=4))  # and the same scores
    assert metric(client, 'nimdoctor_extender_claim_pods_total{count="count"}') >= 1


def test_allocation_mode_all_takes_every_gpu_of_each_node(
    cluster: tuple[Emulator, LiveExtender, Client],
) -> None:
    emulator, _, client = cluster
    create_template(emulator, "gpu-template", claim_spec(None, mode="All"))
    pod = dra_pod(MODEL_70B)
    eventually(lambda: "l40s-2" in failed(client, pod))
    answer = failed(client, pod)
    for node, capabilities in NODES.items():  # each node as if the pod asked for all its GPUs
        gpus = capabilities.get("gpuCount", 8)
        assert answer.get(node) == failed(client, nim_pod(MODEL_70B, gpus=gpus), [node]).get(node), node
    assert "h100-8" not in answer
    assert answer["l40s-2"].startswith("NIM-FIT-006 ")  # two L40S are not enough: serve it multi-node
    assert metric(client, 'nimdoctor_extender_claim_pods_total{count="all"}') >= 1


def test_a_selector_on_the_product_name_narrows_the_nodes(
    cluster: tuple[Emulator, LiveExtender, Client],
) -> None:
    emulator, _, client = cluster
    create_template(emulator, "gpu-template", claim_spec(4, selectors=(H100_PRODUCT,)))
    pod = dra_pod(MODEL_70B)
    eventually(lambda: "l40s-8" in failed(client, pod))
    answer = failed(client, pod)
    assert answer["l40s-8"] == NOT_SELECTED
    assert "h100-8" not in answer
    # Without the selector, 70B at TP 4 fits the 8 L40S in fp8: the selector alone turned it down.
    assert "l40s-8" not in failed(client, nim_pod(MODEL_70B, gpus=4), ["l40s-8"])


def test_a_selector_it_cannot_evaluate_is_said_so_and_not_guessed(
    cluster: tuple[Emulator, LiveExtender, Client],
) -> None:
    emulator, _, client = cluster
    create_template(emulator, "gpu-template", claim_spec(4, selectors=(REGEX_PRODUCT,)))
    pod = dra_pod(MODEL_70B)
    eventually(lambda: "h100-2" in failed(client, pod))
    assert "l40s-8" not in failed(client, pod)  # not narrowed: kube-scheduler's DRA plugin evaluates it
    assert metric(client, "nimdoctor_extender_claim_selectors_unevaluated_total") >= 1


def test_a_template_that_arrives_after_the_pod_is_unknown_then_judged(
    cluster: tuple[Emulator, LiveExtender, Client],
) -> None:
    emulator, _, client = cluster
    pod = dra_pod(MODEL_70B, template="late")
    answer = failed(client, pod)
    # Unknown: each node with all its GPUs as the upper bound. 2 H100 can hold 70B (fp8, TP 2): admitted;
    # 2 L40S cannot, even with both: rejected with the reason that decides it.
    assert "h100-2" not in answer
    assert answer["l40s-2"] == failed(client, nim_pod(MODEL_70B, gpus=2), ["l40s-2"])["l40s-2"]
    assert metric(client, 'nimdoctor_extender_claim_pods_total{count="unknown"}') >= 1
    create_template(emulator, "late", claim_spec(4))
    eventually(lambda: failed(client, pod).get("h100-2", "").startswith("NIM-FIT-002 "))


def test_pods_that_are_not_nim_gpu_pods_pass_untouched(
    cluster: tuple[Emulator, LiveExtender, Client],
) -> None:
    emulator, _, client = cluster
    create_template(emulator, "nic", claim_spec(1, device_class="nic.example.com"))
    no_gpu = dra_pod(MODEL_70B, template="nic")
    cache_job = dra_pod(MODEL_70B)
    cache_job["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "k8s-nim-operator", "app": "cache"}
    other = dra_pod(MODEL_70B)
    other["metadata"]["labels"] = {}
    eventually(lambda: failed(client, no_gpu) == {})
    assert failed(client, cache_job) == {}
    assert failed(client, other) == {}


def test_with_reports_only_each_node_is_judged_with_all_its_gpus(tmp_path: Path, catalog: Catalog) -> None:
    reports = write_reports(
        tmp_path / "reports",
        {"gpu-h100": "dgx-h100", "gpu-vgpu": "l40s-vgpu-2x", "gpu-nofile": "dgx-h100-containerd2"},
    )
    extender = Extender.create(
        catalog, reports=reports, kubeconfig=None, stale_after=None, trust_simulated=True
    )
    running = LiveExtender(extender).start()
    names = ["gpu-h100", "gpu-vgpu", "gpu-nofile"]
    try:
        with running.client() as client:
            big = failed(client, dra_pod(MODEL_70B), names)
            assert sorted(big) == ["gpu-nofile", "gpu-vgpu"]
            assert big["gpu-nofile"].startswith("NIM-FIT-005 ")  # a node-level failure decides
            # 70B needs more than one L40S, and two vGPUs without NVLink cannot run tensor parallel.
            assert big["gpu-vgpu"].startswith("NIM-FIT-004 ")
            small = failed(client, dra_pod("meta/llama-3.1-8b-instruct"), names)
            # 8B fits one vGPU and needs no raised open-file limit: the unknown count rejects nothing.
            assert small == {}
            assert metric(client, 'nimdoctor_extender_claim_pods_total{count="unknown"}') == 2
    finally:
        running.stop()
