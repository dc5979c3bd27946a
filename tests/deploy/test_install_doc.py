"""docs/install.md stays true: the paths it tells operators to apply exist, and a real Prometheus run with its
plain configuration and the shipped rules labels nimdoctor's series as the alerts expect and evaluates them.

Debian's Prometheus is built without Kubernetes service discovery, so the test gives each scrape job static
targets on loopback carrying the `__meta_kubernetes_*` labels that endpoints discovery would attach; the
documented relabelling and `honor_labels` then run unchanged.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.alerts.rules import RULES_FILE
from tests.deploy.manifests import REPO, tool

INSTALL_DOC = (REPO / "docs" / "install.md").read_text()
# What each nimdoctor process would expose: enough to fire one alert of each kind into `pending`.
EXPOSITIONS = {
    "nimdoctor-agent": "# TYPE nimdoctor_node_ready gauge\nnimdoctor_node_ready 0\n",
    "nimdoctor-extender": "# TYPE nimdoctor_extender_cache_synced gauge\nnimdoctor_extender_cache_synced 0\n",
    "nimdoctor-audit": (
        "# TYPE nimdoctor_workload_check_success gauge\n"
        "nimdoctor_workload_check_success"
        '{namespace="nim-service",kind="NIMService",name="llama",check="NIM-WL-001"} 0\n'
    ),
    # Another Service in the namespace: the documented `keep` must drop it.
    "kube-dns": "# TYPE nimdoctor_node_ready gauge\nnimdoctor_node_ready 0\n",
}


def plain_config() -> dict[str, Any]:
    (block,) = [b for b in re.findall(r"```yaml\n(.*?)```", INSTALL_DOC, re.DOTALL) if "scrape_configs:" in b]
    return dict(yaml.safe_load(block))


def test_every_path_the_doc_applies_exists() -> None:
    kustomizations = re.findall(r"kubectl (?:apply|delete) -k ([\w./-]+)", INSTALL_DOC)
    files = re.findall(r"kubectl (?:apply|delete) -n \S+ -f ([\w./-]+)", INSTALL_DOC)
    assert kustomizations
    assert files
    for path in kustomizations:
        assert (REPO / path / "kustomization.yaml").exists(), path
    for path in files:
        assert (REPO / path).is_file(), path


class Exposition(BaseHTTPRequestHandler):
    """Serves one fixed exposition at /metrics."""

    body = b""

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def targets() -> Iterator[dict[str, int]]:
    """A loopback HTTP server per Service: {service name: port}."""
    servers = {}
    for service, text in EXPOSITIONS.items():
        handler = type(f"Exposition_{service}", (Exposition,), {"body": text.encode()})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers[service] = server
    yield {service: server.server_address[1] for service, server in servers.items()}
    for server in servers.values():
        server.shutdown()
        server.server_close()


def static_targets(ports: dict[str, int]) -> list[dict[str, Any]]:
    """What endpoints discovery would give: one target per Service's `metrics` port, with its meta labels."""
    return [
        {
            "targets": [f"127.0.0.1:{port}"],
            "labels": {
                "__meta_kubernetes_service_name": service,
                "__meta_kubernetes_endpoint_port_name": "metrics",
                "__meta_kubernetes_namespace": "nimdoctor",
                "__meta_kubernetes_pod_name": f"{service}-pod",
                "__meta_kubernetes_pod_node_name": f"{service}-node",
            },
        }
        for service, port in ports.items()
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["data"]


@pytest.mark.slow
def test_prometheus_with_the_documented_configuration_labels_series_and_evaluates_the_alerts(
    tmp_path: Path, targets: dict[str, int]
) -> None:
    config = plain_config()
    assert config["rule_files"] == [RULES_FILE.name]
    (tmp_path / RULES_FILE.name).write_text(RULES_FILE.read_text())
    for job in config["scrape_configs"]:
        assert list(job.pop("kubernetes_sd_configs")) == [
            {"role": "endpoints", "namespaces": {"names": ["nimdoctor"]}}
        ]
        job["static_configs"] = static_targets(targets)
        job["metrics_path"] = "/metrics"
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    check = subprocess.run(
        [tool("promtool"), "check", "config", "prometheus.yml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert check.returncode == 0, check.stdout + check.stderr

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "prometheus.log").open("w") as log:
        server = subprocess.Popen(
            [
                tool("prometheus"),
                "--config.file=prometheus.yml",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        pending = wait_for_pending_alerts(
            base,
            {"NimDoctorNodeNotReady", "NimDoctorExtenderNotReady", "NimDoctorWorkloadMisconfigured"},
            server,
        )
        series = {
            r["metric"]["__name__"] + "@" + r["metric"]["job"]: r["metric"]
            for r in api(base, "/api/v1/query", query='{__name__=~"nimdoctor_.+"}')["result"]
        }
    finally:
        server.kill()
        server.wait()
    assert set(series) == {
        "nimdoctor_node_ready@nimdoctor-agent",
        "nimdoctor_extender_cache_synced@nimdoctor-extender",
        "nimdoctor_workload_check_success@nimdoctor-audit",
    }, "kube-dns is not scraped; each job is named after its Service"
    assert series["nimdoctor_node_ready@nimdoctor-agent"]["node"] == "nimdoctor-agent-node"
    assert series["nimdoctor_workload_check_success@nimdoctor-audit"]["namespace"] == "nim-service"
    assert pending["NimDoctorNodeNotReady"]["node"] == "nimdoctor-agent-node"
    assert pending["NimDoctorWorkloadMisconfigured"]["namespace"] == "nim-service"


def wait_for_pending_alerts(
    base: str, names: set[str], server: subprocess.Popen[bytes]
) -> dict[str, dict[str, str]]:
    """Poll the rules API until every named alert is pending (their `for:` keeps them from firing)."""
    deadline = time.monotonic() + 60
    found: dict[str, dict[str, str]] = {}
    while time.monotonic() < deadline and server.poll() is None:
        try:
            groups = api(base, "/api/v1/rules", type="alert")["groups"]
        except OSError:
            time.sleep(0.5)
            continue
        found = {
            alert["labels"]["alertname"]: alert["labels"]
            for group in groups
            for rule in group["rules"]
            for alert in rule["alerts"]
            if alert["state"] == "pending"
        }
        if names <= set(found):
            return found
        time.sleep(0.5)
    pytest.fail(f"alerts pending: {sorted(found)}; wanted {sorted(names)} (see prometheus.log)")
