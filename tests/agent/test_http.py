"""A real agent process on loopback with a simulated machine: its metrics over real HTTP, linted by the
real promtool, and its health endpoints."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.agent.conftest import AgentProcess, wait_for

pytestmark = pytest.mark.slow
PROMTOOL = shutil.which("promtool")


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return metrics[(name, frozenset(labels.items()))]


def test_metrics_over_http(start_agent: Callable[..., AgentProcess]) -> None:
    agent = start_agent("--simulate", "dgx-h100-containerd2", "--no-publish", "--listen", "127.0.0.1:0")
    agent.wait_serving()
    wait_for(lambda: agent.get("/readyz")[0] == 200, 20, f"never ready:\n{agent.log}")
    status, text = agent.get("/metrics")
    assert status == 200
    metrics = samples(text)
    assert value(metrics, "nimdoctor_node_ready") == 1
    assert value(metrics, "nimdoctor_check_success", check="NIM-RT-001", severity="warning") == 0
    assert (
        value(metrics, "nimdoctor_check_status", check="NIM-RT-001", severity="warning", status="fail") == 1
    )
    assert value(metrics, "nimdoctor_check_success", check="NIM-GPU-001", severity="critical") == 1
    assert value(metrics, "nimdoctor_containerd_nofile_soft_limit") == 1024
    assert value(metrics, "nimdoctor_nvlink_max_clique_size") == 8
    assert sum(1 for name, _ in metrics if name == "nimdoctor_gpu_info") == 8
    assert value(metrics, "nimdoctor_probe_runs_total") >= 1
    assert value(metrics, "nimdoctor_publish_runs_total") == 0
    assert not [name for name, labels in metrics if "node" in dict(labels)]  # added at scrape time
    assert "publishing to nowhere (metrics only)" in agent.log
    assert agent.stop() == 0


@pytest.mark.skipif(
    PROMTOOL is None, reason="promtool comes with Debian's prometheus package (CI installs it)"
)
def test_promtool_finds_nothing_to_lint(start_agent: Callable[..., AgentProcess]) -> None:
    agent = start_agent("--simulate", "gpu-lost", "--no-publish", "--listen", "127.0.0.1:0")
    agent.wait_serving()
    wait_for(lambda: agent.get("/readyz")[0] == 200, 20, f"never ready:\n{agent.log}")
    _, text = agent.get("/metrics")
    assert PROMTOOL is not None
    lint = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")
    assert agent.stop() == 0


def test_health_and_unknown_paths(start_agent: Callable[..., AgentProcess]) -> None:
    agent = start_agent("--simulate", "l40s-4x", "--no-publish", "--listen", "127.0.0.1:0")
    agent.wait_serving()
    assert agent.get("/healthz") == (200, "ok\n")
    wait_for(lambda: agent.get("/readyz") == (200, "ok\n"), 20, f"never ready:\n{agent.log}")
    status, body = agent.get("/nothing-here")
    assert status == 404
    assert "/metrics" in body
    assert agent.stop() == 0


def test_without_credentials_it_says_so_once_and_serves_metrics(
    start_agent: Callable[..., AgentProcess],
) -> None:
    agent = start_agent("--simulate", "l40s-4x", "--listen", "127.0.0.1:0", "--interval", "0.2")
    agent.wait_serving()
    wait_for(
        lambda: "nimdoctor_probe_runs_total 3.0" in agent.get("/metrics")[1], 20, f"no probes:\n{agent.log}"
    )
    assert agent.log.count("no Kubernetes credentials") == 1
    assert "serving metrics only" in agent.log
    assert agent.stop() == 0
