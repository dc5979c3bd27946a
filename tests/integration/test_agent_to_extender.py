"""The cluster half end to end, all real processes on loopback: `nimdoctor agent --once --publish-simulated`
publishes each simulated node's NodeReport and Node labels to the Kubernetes API emulator, `nimdoctor extender
--trust-simulated` watches the same API, and kube-scheduler's filter call is answered from what the agents
published. When a node's agent publishes a fixed report, the extender admits the pod it turned away."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import wait_for
from tests.extender.gosched import read_filter
from tests.extender.live import Client
from tests.extender.process import ExtenderProcess
from tests.extender.test_watch import declare
from tests.kube import Emulator, write_kubeconfig
from tests.kube import kube as kube
from tests.placement.pods import nim_pod

pytestmark = pytest.mark.slow

NEMOTRON_49B = "nvidia/llama-3.3-nemotron-super-49b-v1"
# node name -> the built-in machine its agent simulates
FLEET = {"gpu-a": "dgx-h100", "gpu-b": "dgx-h100-containerd2", "gpu-c": "l40s-vgpu-2x"}


def register_node(emulator: Emulator, name: str) -> None:
    """A Node as the kubelet registers it (the agent's NodeReport points at it as its owner)."""
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "uid": f"uid-{name}", "labels": {"kubernetes.io/hostname": name}},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]},
    }
    emulator.call(lambda: emulator.handler.objects.__setitem__(("v1/nodes", None, name), node))


def node_labels(emulator: Emulator, name: str) -> dict[str, str]:
    """The Node's labels as the emulator holds them now."""
    labels: dict[str, str] = emulator.call(lambda: emulator.handler.objects["v1/nodes", None, name].raw)[
        "metadata"
    ]["labels"]
    return labels


def publish(kubeconfig: Path, node: str, machine: str) -> None:
    """One agent cycle for `node`, simulating `machine`: probe, publish, exit 0."""
    agent = ["agent", "--once", "--simulate", machine, "--publish-simulated", "--node-name", node]
    agent += ["--kubeconfig", str(kubeconfig)]
    done = subprocess.run(
        [sys.executable, "-m", "nimdoctor", *agent, "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def cluster(kube: Emulator, tmp_path: Path) -> Iterator[tuple[Emulator, Path, Client]]:
    """Every node registered and published by its agent, and an extender watching the reports."""
    declare(kube)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube.url)
    for node, machine in FLEET.items():
        register_node(kube, node)
        publish(kubeconfig, node, machine)
    args = ["--kubeconfig", str(kubeconfig), "--trust-simulated", "--listen", "127.0.0.1:0"]
    args += ["--metrics-listen", "127.0.0.1:0"]
    extender = ExtenderProcess(args, tmp_path / "extender.log").wait_listening()
    try:
        with Client(extender.metrics_port) as metrics, Client(extender.port) as client:
            wait_for(lambda: metrics.get("/readyz")[0] == 200, 30, extender.output())
            yield kube, kubeconfig, client
    finally:
        assert extender.stop() == 0, extender.output()


def admitted(client: Client, pod: dict[str, Any]) -> tuple[list[str], dict[str, tuple[str, list[str]]]]:
    names = list(FLEET)
    status, body = client.post("/filter", {"Pod": pod, "Nodes": None, "NodeNames": names})
    assert status == 200, body
    view = read_filter(body, names, node_cache_capable=True)
    return view.feasible, view.statuses


def test_a_49b_pod_lands_only_where_the_published_reports_say_it_fits(
    cluster: tuple[Emulator, Path, Client],
) -> None:
    emulator, _, client = cluster
    feasible, statuses = admitted(client, nim_pod(NEMOTRON_49B, gpus=2))
    assert feasible == ["gpu-a"]
    assert statuses["gpu-b"][1][0].startswith("NIM-FIT-005 ")  # containerd's 1024 open files
    assert statuses["gpu-c"][1][0].startswith("NIM-FIT-004 ")  # vGPUs without NVLink
    assert node_labels(emulator, "gpu-b")["nimdoctor.io/nofile-ok"] == "false"
    assert node_labels(emulator, "gpu-a")["nimdoctor.io/nofile-ok"] == "true"


def test_a_fixed_node_is_admitted_once_its_agent_publishes(cluster: tuple[Emulator, Path, Client]) -> None:
    emulator, kubeconfig, client = cluster
    assert "gpu-b" not in admitted(client, nim_pod(NEMOTRON_49B, gpus=2))[0]
    publish(kubeconfig, "gpu-b", "dgx-h100")  # the drop-in applied: the node now probes like dgx-h100
    wait_for(lambda: "gpu-b" in admitted(client, nim_pod(NEMOTRON_49B, gpus=2))[0], 30, "never admitted")
    assert node_labels(emulator, "gpu-b")["nimdoctor.io/nofile-ok"] == "true"
