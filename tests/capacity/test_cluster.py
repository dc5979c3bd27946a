"""`nimdoctor capacity --cluster` against the API emulator: the same fleet gives the same document as
offline, read with lists only; stale reports and Nodes that are gone cost their node an unknown."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import kmock
import pytest
from click.testing import CliRunner

from nimdoctor.cli import cli
from nimdoctor.cluster.nodereport import build_status, nodereport_object, status_document
from nimdoctor.simulation.machine import Machine
from tests.capacity.fleet import LLAMA_70B, by_node, capacity, machine, pod, report, write_pods, write_reports
from tests.kube import Emulator, kube, write_kubeconfig

__all__ = ["kube"]

RESOURCES = {"NodeReport": "nimdoctor.io/v1alpha1/nodereports", "Node": "v1/nodes", "Pod": "v1/pods"}
FLEET = {
    "dgx-1": machine("dgx-h100"),
    "pairs-1": machine("h100-pcie-nvlink-pairs", in_use=[0, 2]),
    "low-nofile": machine("dgx-h100", nofile=1024),
    "vgpu-1": machine("l40s-vgpu-2x"),
}
PODS = [
    pod("a", "dgx-1", 3),
    pod("b", "pairs-1", 1),
    pod("c", "pairs-1", 1),
    pod("done", "dgx-1", 4, phase="Succeeded"),
    pod("pending", None, 8, phase="Pending"),
]


def put(emulator: Emulator, *objects: dict[str, Any]) -> None:
    """Store objects as the API server would hold them (every list it serves, empty or not)."""

    def store() -> None:
        for kind, resource in RESOURCES.items():
            emulator.handler.resources[resource] = kmock.ResourceInfo(
                kind=kind, namespaced=kind == "Pod", verbs={"list", "get"}
            )
        for obj in objects:
            meta = obj["metadata"]
            emulator.handler.objects[RESOURCES[obj["kind"]], meta.get("namespace"), meta["name"]] = obj

    emulator.call(store)


def node_report(node: str, described: Machine, heartbeat: dt.datetime) -> dict[str, Any]:
    """The NodeReport the node's agent would publish."""
    status = status_document(build_status(report(node, described), heartbeat))
    return {**nodereport_object(node, None), "status": status}


def node(name: str, gpus: int) -> dict[str, Any]:
    """A Node whose device plugin advertises `gpus` GPUs."""
    allocatable = {"cpu": "64", "memory": "1Ti", "nvidia.com/gpu": str(gpus)}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {"allocatable": allocatable},
    }


def publish(emulator: Emulator, fleet: dict[str, Machine], heartbeat: dt.datetime) -> None:
    for name, described in fleet.items():
        doc = node_report(name, described, heartbeat)
        put(emulator, doc, node(name, doc["status"]["capabilities"]["gpuCount"]))
    put(emulator, *PODS)


def live(kubeconfig: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        cli,
        [
            "capacity",
            "--model",
            LLAMA_70B,
            "--cluster",
            "--kubeconfig",
            str(kubeconfig),
            "--trust-simulated",
            *args,
            "-o",
            "json",
        ],
    )
    assert result.exit_code in (0, 1, 3), result.output
    return result.exit_code, json.loads(result.stdout)


def test_the_same_fleet_through_the_cluster_gives_the_same_document(kube: Emulator, tmp_path: Path) -> None:
    publish(kube, FLEET, dt.datetime.now(dt.UTC))
    offline_code, offline = capacity(
        "--model",
        LLAMA_70B,
        "--reports",
        write_reports(tmp_path / "r", FLEET),
        "--pods",
        write_pods(tmp_path / "p.json", PODS),
    )
    code, document = live(write_kubeconfig(tmp_path / "kubeconfig", kube.url))
    assert (document.pop("source"), offline.pop("source")) == ("cluster", "reports")
    assert document == offline
    assert code == offline_code == 0
    assert document["replicas"] == 2
    assert [u["check"] for u in document["unlock"]] == ["NIM-FIT-005"]
    assert {r.method for r in kube.requests()} == {"GET"}  # read-only


def test_stale_broken_and_missing_reports_and_gone_nodes_are_unknown(kube: Emulator, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    put(
        kube,
        node_report("stale", FLEET["dgx-1"], now - dt.timedelta(hours=1)),
        node("stale", 8),
        node_report("gone", FLEET["dgx-1"], now),  # its Node was deleted
        node("unreported", 8),
        node("cpu-only", 0),
        {**nodereport_object("broken", None), "status": {"ready": "yes"}},
        node("broken", 8),
    )
    code, document = live(write_kubeconfig(tmp_path / "kubeconfig", kube.url))
    nodes = by_node(document)
    assert set(nodes) == {"stale", "gone", "unreported", "broken"}
    assert "the NodeReport is invalid (ready: must be true or false)" in nodes["broken"]["reason"]
    assert "stale" in nodes["stale"]["reason"]
    assert "no Node" in nodes["gone"]["reason"]
    assert "no NodeReport" in nodes["unreported"]["reason"]
    assert {n["status"] for n in nodes.values()} == {"unknown"}
    assert (code, document["unjudged"]) == (3, 4)


def test_an_unreachable_api_exits_3_naming_it(tmp_path: Path) -> None:
    emulator = Emulator()
    emulator.start()
    url = emulator.url
    emulator.close()
    result = CliRunner().invoke(
        cli,
        [
            "capacity",
            "--model",
            LLAMA_70B,
            "--cluster",
            "--kubeconfig",
            str(write_kubeconfig(tmp_path / "k", url)),
        ],
    )
    assert result.exit_code == 3, result.output
    assert "cannot list /api/v1/nodes" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give --reports PATH (offline) or --cluster (live)"),
        (("--cluster", "--reports", "x"), "give --reports PATH (offline) or --cluster (live)"),
        (("--cluster", "--pods", "p.json"), "--pods goes with --reports"),
    ],
)
def test_a_fleet_comes_from_reports_or_the_cluster(args: tuple[str, ...], message: str) -> None:
    result = CliRunner().invoke(cli, ["capacity", "--model", LLAMA_70B, *args])
    assert result.exit_code == 2
    assert message in result.stderr
