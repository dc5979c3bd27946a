"""A real Prometheus (Debian's binary) on loopback scrapes a real agent every second; its query API shows
the node's readiness and the per-check series, with the `node` label added by relabelling, not by us."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nimdoctor.agent.metrics import catalog_checks
from nimdoctor.catalog import Catalog
from tests.agent.conftest import AgentProcess, wait_for

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PROMETHEUS is None, reason="Debian's prometheus package provides it (CI installs it)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[int], str]]:
    """Start Prometheus scraping 127.0.0.1:PORT; its base URL."""
    started: list[subprocess.Popen[bytes]] = []

    def start(target: int) -> str:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: nimdoctor-agent\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{target}']}}]\n"
            "    relabel_configs: [{target_label: node, replacement: gpu-1}]\n"
        )
        assert PROMETHEUS is not None
        proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(proc)
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(15)


def query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            body = json.load(answer)
    except (urllib.error.URLError, ConnectionError):
        return []
    return list(body["data"]["result"])


def test_prometheus_scrapes_readiness_and_checks(
    start_agent: Callable[..., AgentProcess], prometheus: Callable[[int], str], catalog: Catalog
) -> None:
    agent = start_agent(
        "--simulate", "gpu-lost", "--no-publish", "--listen", "127.0.0.1:0", "--interval", "1"
    )
    base = prometheus(agent.wait_serving())
    ready = wait_for(lambda: query(base, "nimdoctor_node_ready"), 60, "node-ready series never appeared")
    (series,) = ready
    assert series["metric"]["node"] == "gpu-1"
    assert series["value"][1] == "0"
    lost = wait_for(
        lambda: query(base, 'nimdoctor_check_status{check="NIM-GPU-003",status="fail"} == 1'),
        30,
        "per-check series never appeared",
    )
    assert lost[0]["metric"]["severity"] == "critical"
    checks = query(base, "count(nimdoctor_check_success)")
    assert int(checks[0]["value"][1]) == len(catalog_checks(catalog))
    assert agent.stop() == 0
