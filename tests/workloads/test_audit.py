"""`nimdoctor audit`: metrics per object and check, counters, health, and Events only on first appearance."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from nimdoctor.catalog import Catalog
from nimdoctor.cluster.nodereport import parse_time
from nimdoctor.workloads.audit import Auditor
from nimdoctor.workloads.server import HttpServer, make_app
from tests.kube import Emulator, api_client
from tests.workloads.cluster import NOW, NS, api_key_secret, kubeconfig, put


def auditor(kube: Emulator, catalog: Catalog, now: list[dt.datetime]) -> Auditor:
    return Auditor(api_client(kube.url), catalog, [NS], (3, 1, 4), interval=60, clock=lambda: now[0])


def event_objects(kube: Emulator) -> list[dict[str, Any]]:
    """The Events stored in the emulator (deleted ones left out)."""

    def read() -> list[dict[str, Any]]:
        found = []
        for key in list(kube.handler.objects):
            obj = kube.handler.objects[key]
            if not obj.deleted and obj.raw.get("kind") == "Event":
                found.append(dict(obj.raw))
        return found

    return kube.call(read)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_events_only_when_a_finding_first_appears(live: Emulator, catalog: Catalog) -> None:
    now = [NOW]
    audit = auditor(live, catalog, now)
    assert audit.cycle()
    assert event_objects(live) == []  # a healthy namespace: no events
    put(live, api_key_secret(key="API_KEY"))  # breaks NIM-WL-007 on the cache and the service
    for _ in range(3):
        now[0] += dt.timedelta(minutes=5)
        assert audit.cycle()
    created = event_objects(live)
    assert sorted((e["involvedObject"]["kind"], e["reason"]) for e in created) == [
        ("NIMCache", "NIM-WL-007"),
        ("NIMService", "NIM-WL-007"),
    ]
    service_event = next(e for e in created if e["involvedObject"]["kind"] == "NIMService")
    assert service_event["involvedObject"] == {
        "apiVersion": "apps.nvidia.com/v1alpha1",
        "kind": "NIMService",
        "name": "llm",
        "namespace": NS,
        "uid": "uid-llm",
    }
    assert service_event["type"] == "Warning"
    assert (
        service_event["message"]
        == "NIM-WL-007 fail: secret ngc-api-secret has no key NGC_API_KEY (keys: API_KEY): the NIM container "
        "reads NGC_API_KEY through a secretKeyRef"
    )
    creates = [r for r in live.requests() if r.method == "POST" and "/events" in str(r.url)]
    assert len(creates) == 2

    # A restarted audit recreates nothing: the Event names are stable, the API answers AlreadyExists.
    restarted = auditor(live, catalog, now)
    assert restarted.cycle()
    assert len(event_objects(live)) == 2

    # Fixed, then broken again: the existing Event is refreshed, not duplicated.
    put(live, api_key_secret())
    now[0] += dt.timedelta(minutes=5)
    audit.cycle()
    put(live, api_key_secret(key="API_KEY"))
    now[0] += dt.timedelta(minutes=5)
    audit.cycle()
    again = event_objects(live)
    assert len(again) == 2
    refreshed = next(e for e in again if e["involvedObject"]["kind"] == "NIMService")
    assert parse_time(refreshed["lastTimestamp"]) == NOW + dt.timedelta(minutes=25)
    assert parse_time(refreshed["firstTimestamp"]) == NOW + dt.timedelta(minutes=5)


def test_metrics_health_and_readiness_over_http(live: Emulator, catalog: Catalog) -> None:
    now = [NOW]
    audit = auditor(live, catalog, now)
    port = free_port()
    server = HttpServer(make_app(audit), "127.0.0.1", port)
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
        with pytest.raises(urllib.error.HTTPError) as unready:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert unready.value.code == 503
        unready.value.close()  # its response holds the connection open until closed
        assert scrape(port)["nimdoctor_audit_last_success_timestamp_seconds", ()] == 0  # none yet: alertable
        put(live, api_key_secret(key="API_KEY"))
        audit.cycle()
        live.stop()  # the API goes away: the next cycle fails, the last results stay
        audit.cycle()
        metrics = scrape(port)
        labels = (("check", "NIM-WL-007"), ("kind", "NIMService"), ("name", "llm"), ("namespace", NS))
        assert metrics["nimdoctor_workload_check_success", labels] == 0.0
        ok = (("check", "NIM-WL-005"), ("kind", "NIMService"), ("name", "llm"), ("namespace", NS))
        assert metrics["nimdoctor_workload_check_success", ok] == 1.0
        assert metrics["nimdoctor_audit_runs_total", ()] == 2.0
        assert metrics["nimdoctor_audit_failures_total", ()] == 1.0
        assert metrics["nimdoctor_audit_last_success_timestamp_seconds", ()] == NOW.timestamp()
        assert metrics["nimdoctor_build_info", (("revision", "unknown"), ("version", "0.1.0"))] == 1.0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            assert response.status == 200
    finally:
        server.stop()
    # Nothing of this test may linger into the next: a socket left to the garbage collector is closed (with
    # a ResourceWarning, an error here) in whatever test runs when it is collected.
    assert not server.server.thread.is_alive()
    assert [c for c in psutil.Process().net_connections() if port in (c.laddr[1:] + c.raddr[1:])] == []


def test_promtool_accepts_the_exposition(live: Emulator, catalog: Catalog) -> None:

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian package prometheus) is not installed")
    audit = auditor(live, catalog, [NOW])
    audit.cycle()
    from prometheus_client import CollectorRegistry, generate_latest

    from nimdoctor.workloads.audit import AuditCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(AuditCollector(audit))
    result = subprocess.run(
        [promtool, "check", "metrics"], input=generate_latest(registry), capture_output=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_audit_once_as_a_real_process(live: Emulator, tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "kubeconfig", live.url)
    result = subprocess.run(
        [sys.executable, "-m", "nimdoctor", "audit", "--once", "--kubeconfig", str(config), "-n", NS],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "audit cycle: 2 object(s), 0 fail, 0 warn, 0 new event(s)" in result.stderr
