"""The agent's Kubernetes API contract, against the kmock emulator through the official client: what it
creates, what it writes and when, with which patch type, and what it leaves alone.

kmock merges every patch as a plain dict and has no status subresource split, so the request log (method,
path, content type, body) is what proves the contract; the stored objects prove the effect."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from nimdoctor.cluster import node as meta
from nimdoctor.cluster.api import ApiError, KubeApi
from nimdoctor.cluster.nodereport import parse_node_document
from nimdoctor.cluster.publisher import Published, Publisher
from tests.cluster.emulated import KUBELET_CONDITIONS, NODE_KEY, REPORT_KEY, Clock, Faults, log_since, stored
from tests.cluster.reports import NODE, NOW, report_of
from tests.kube import Emulator, api_client

NODE_PATH = f"/api/v1/nodes/{NODE}"
REPORTS = "/apis/nimdoctor.io/v1alpha1/nodereports"
REPORT_PATH = f"{REPORTS}/{NODE}"
HEARTBEAT = 300.0
LATER = NOW + dt.timedelta(minutes=1)


def publisher(kube: Emulator, clock: Clock, timeout: float = 5.0) -> Publisher:
    api = KubeApi(api_client(kube.url), timeout=(timeout, timeout))
    return Publisher(api, NODE, heartbeat=HEARTBEAT, min_nofile=65536, agent_version="0.1.0", now=clock)


def bodies(kube: Emulator, start: int) -> list[Any]:
    return [r.data for r in kube.requests()[start:]]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_first_publish_creates_the_report_and_writes_status_condition_labels(
    node: Emulator, clock: Clock
) -> None:
    done = publisher(node, clock).publish(report_of("dgx-h100"))
    assert done == Published(created=True, status=True, condition=True, metadata=True)
    assert log_since(node, 0) == [
        ("GET", NODE_PATH, None),
        ("GET", REPORT_PATH, None),
        ("POST", REPORTS, "application/json"),
        ("PATCH", f"{REPORT_PATH}/status", "application/json-patch+json"),
        ("GET", NODE_PATH, None),
        ("PATCH", f"{NODE_PATH}/status", "application/strategic-merge-patch+json"),
        ("PATCH", NODE_PATH, "application/merge-patch+json"),
    ]
    create, status_patch, conditions, labels = (bodies(node, 0)[i] for i in (2, 3, 5, 6))
    assert "status" not in create  # a real API server ignores it on create
    assert create["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": NODE, "uid": "4a5e5c42-7a3c-4e0e-9d51-1f1d4d0b8a11"}
    ]
    assert [(op["op"], op["path"]) for op in status_patch] == [("add", "/status")]
    assert [c["type"] for c in conditions["status"]["conditions"]] == [
        "MemoryPressure",
        "Ready",
        "KernelDeadlock",
        "NIMNotReady",
    ]
    assert conditions["status"]["conditions"][:3] == KUBELET_CONDITIONS
    assert set(labels) == {"metadata"}
    assert labels["metadata"]["labels"] == {
        meta.READY_LABEL: "true",
        meta.CLIQUE_LABEL: "8",
        meta.NOFILE_LABEL: "true",
    }
    report = stored(node, REPORT_KEY)
    assert report["status"] == status_patch[0]["value"]
    record = parse_node_document(report)
    assert (record.node, record.ready, record.capabilities.gpu_count) == (NODE, True, 8)


def test_an_unchanged_report_writes_nothing(node: Emulator, clock: Clock) -> None:
    agent = publisher(node, clock)
    agent.publish(report_of("dgx-h100"))
    start = len(node.requests())
    clock.advance(60)
    done = agent.publish(report_of("dgx-h100", now=LATER))
    assert done == Published()
    assert log_since(node, start) == []


def test_a_changed_report_rewrites_status_condition_and_labels(node: Emulator, clock: Clock) -> None:
    agent = publisher(node, clock)
    agent.publish(report_of("dgx-h100"))
    start = len(node.requests())
    clock.advance(60)
    agent.publish(report_of("gpu-lost", now=LATER))
    assert [(m, p) for m, p, _ in log_since(node, start)] == [
        ("PATCH", f"{REPORT_PATH}/status"),
        ("GET", NODE_PATH),
        ("PATCH", f"{NODE_PATH}/status"),
        ("PATCH", NODE_PATH),
    ]
    _, _, conditions, labels = bodies(node, start)
    ours = conditions["status"]["conditions"][-1]
    assert (ours["status"], ours["reason"]) == ("True", "NimGpu003Failed")
    assert ours["lastTransitionTime"] == ours["lastHeartbeatTime"] == "2026-11-29T12:01:00Z"
    assert labels["metadata"]["labels"] == {meta.READY_LABEL: "false", meta.CLIQUE_LABEL: "7"}
    assert set(labels["metadata"]["annotations"]) == {meta.HASH_ANNOTATION}
    node_now = stored(node, NODE_KEY)
    assert [c["type"] for c in node_now["status"]["conditions"]].count("NIMNotReady") == 1
    assert node_now["status"]["conditions"][:3] == KUBELET_CONDITIONS
    assert node_now["metadata"]["labels"]["kubernetes.io/hostname"] == NODE
    assert stored(node, REPORT_KEY)["status"]["failingChecks"] == "NIM-GPU-003"


def test_the_heartbeat_rewrites_the_status_and_rereads_the_node(node: Emulator, clock: Clock) -> None:
    agent = publisher(node, clock)
    agent.publish(report_of("dgx-h100"))
    start = len(node.requests())
    clock.advance(HEARTBEAT)
    done = agent.publish(report_of("dgx-h100", now=clock.now))
    assert done == Published(status=True)
    assert [(m, p) for m, p, _ in log_since(node, start)] == [
        ("GET", NODE_PATH),
        ("PATCH", f"{REPORT_PATH}/status"),
    ]
    status = stored(node, REPORT_KEY)["status"]
    assert status["heartbeatTime"] == status["observedAt"] == "2026-11-29T12:05:00Z"


def test_a_restarted_agent_does_not_rewrite_fresh_content(node: Emulator, clock: Clock) -> None:
    publisher(node, clock).publish(report_of("dgx-h100"))
    start = len(node.requests())
    clock.advance(60)
    done = publisher(node, clock).publish(report_of("dgx-h100", now=LATER))
    assert done == Published()
    assert log_since(node, start) == [("GET", NODE_PATH, None), ("GET", REPORT_PATH, None)]


def test_a_stale_report_from_before_a_restart_is_rewritten(node: Emulator, clock: Clock) -> None:
    publisher(node, clock).publish(report_of("dgx-h100"))
    clock.advance(HEARTBEAT + 1)
    assert publisher(node, clock).publish(report_of("dgx-h100", now=clock.now)).status


@pytest.mark.parametrize("status", ["garbage", {"heartbeatTime": "yesterday"}, {"heartbeatTime": 5}])
def test_a_mangled_stored_report_is_overwritten(node: Emulator, clock: Clock, status: Any) -> None:
    document = {"apiVersion": "nimdoctor.io/v1alpha1", "kind": "NodeReport", "metadata": {"name": NODE}}
    node.call(lambda: node.handler.objects.__setitem__(REPORT_KEY, {**document, "status": status}))
    assert publisher(node, clock).publish(report_of("dgx-h100")).status
    assert parse_node_document(stored(node, REPORT_KEY)).ready is True


def test_null_values_survive_the_write(node: Emulator, clock: Clock) -> None:
    publisher(node, clock).publish(report_of("l40s-4x", unlimited=True))
    capabilities = stored(node, REPORT_KEY)["status"]["capabilities"]
    assert capabilities["nofileSoft"] is None  # present, and null
    assert parse_node_document(stored(node, REPORT_KEY)).capabilities.nofile_unlimited is True


def test_keys_that_left_the_report_leave_the_object(node: Emulator, clock: Clock) -> None:
    agent = publisher(node, clock)
    agent.publish(report_of("dgx-h100"))
    agent.publish(report_of("no-driver", now=LATER))
    status = stored(node, REPORT_KEY)["status"]
    assert "gpuProduct" not in status["capabilities"]
    assert "maxNvlinkClique" not in status["capabilities"]
    labels = stored(node, NODE_KEY)["metadata"]["labels"]
    assert meta.CLIQUE_LABEL not in labels
    assert labels[meta.READY_LABEL] == "false"
    assert labels["kubernetes.io/hostname"] == NODE


def test_a_deleted_report_is_created_again(node: Emulator, clock: Clock) -> None:
    agent = publisher(node, clock)
    agent.publish(report_of("dgx-h100"))
    node.call(lambda: node.handler.objects[REPORT_KEY].delete())
    with pytest.raises(ApiError) as failure:
        agent.publish(report_of("gpu-lost", now=LATER))
    assert failure.value.status == 404
    done = agent.publish(report_of("gpu-lost", now=LATER))  # and what the failed attempt left undone
    assert done == Published(created=True, status=True, condition=True, metadata=True)
    assert stored(node, REPORT_KEY)["status"]["ready"] is False


def test_a_report_created_meanwhile_by_another_writer_is_used(
    node: Emulator, clock: Clock, faults: Faults
) -> None:
    faults.code, faults.methods = 409, {"POST"}
    done = publisher(node, clock).publish(report_of("dgx-h100"))
    assert done == Published(status=True, condition=True, metadata=True)
    assert stored(node, REPORT_KEY)["status"]["ready"] is True


@pytest.mark.parametrize("code", [401, 403, 409, 410, 500, 503])
def test_an_api_error_is_raised_with_its_status_and_the_next_call_recovers(
    node: Emulator, clock: Clock, faults: Faults, code: int
) -> None:
    agent = publisher(node, clock)
    faults.code = code
    with pytest.raises(ApiError) as failure:
        agent.publish(report_of("dgx-h100"))
    assert failure.value.status == code
    assert failure.value.message == f"scripted {code}"
    faults.code = 0
    assert agent.publish(report_of("dgx-h100")).status
    assert parse_node_document(stored(node, REPORT_KEY)).ready is True


def test_a_missing_node_is_a_404(kube: Emulator, clock: Clock) -> None:
    with pytest.raises(ApiError, match=f"GET {NODE_PATH}: 404") as failure:
        publisher(kube, clock).publish(report_of("dgx-h100"))
    assert failure.value.status == 404


def test_a_slow_api_server_times_out(node: Emulator, clock: Clock, faults: Faults) -> None:
    faults.delay = 2.0
    with pytest.raises(ApiError) as failure:
        publisher(node, clock, timeout=0.3).publish(report_of("dgx-h100"))
    assert failure.value.status == 0
    assert "timed out" in failure.value.message.lower()


def test_an_api_server_that_went_away_and_came_back(node: Emulator, clock: Clock) -> None:
    agent = publisher(node, clock)
    agent.publish(report_of("dgx-h100"))
    port = node.port
    node.stop()
    with pytest.raises(ApiError) as failure:
        agent.publish(report_of("gpu-lost", now=LATER))
    assert failure.value.status == 0
    node.start(port=port)
    assert agent.publish(report_of("gpu-lost", now=LATER)).status
    assert stored(node, REPORT_KEY)["status"]["ready"] is False
