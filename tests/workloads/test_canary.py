"""CANARY: a unique value planted in every secret appears nowhere nimdoctor writes: no output format of lint
or run --cluster, no log line of the audit, no metric, no Event."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, generate_latest

from nimdoctor.catalog import Catalog
from nimdoctor.cli import cli
from nimdoctor.workloads.audit import AuditCollector, Auditor
from tests.kube import Emulator, api_client
from tests.workloads.cluster import (
    NOW,
    NS,
    b64,
    kubeconfig,
    nimcache,
    nimservice,
    put,
)

CANARY = f"canary-{uuid.uuid4().hex}"


def forms(value: str) -> list[str]:
    """The canary as text and in every encoding a secret carries it (base64 of it and of user:password)."""
    encoded = [value, b64(value), b64(f"$oauthtoken:{value}"), b64(f"{value}:{value}")]
    return [*encoded, *(e.rstrip("=") for e in encoded)]


def planted_secrets() -> list[dict[str, object]]:
    """Every kind of secret a NIM namespace has, each holding the canary in each of its values."""

    def secret(name: str, kind: str, data: dict[str, str]) -> dict[str, object]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": NS},
            "type": kind,
            "data": {k: b64(v) for k, v in data.items()},
        }

    def docker(user: str) -> str:
        auth = b64(f"{user}:{CANARY}")
        return json.dumps({"auths": {"nvcr.io": {"username": user, "password": CANARY, "auth": auth}}})

    return [
        secret("ngc-api-secret", "Opaque", {"NGC_API_KEY": CANARY, "HF_TOKEN": CANARY}),
        secret("ngc-secret", "kubernetes.io/dockerconfigjson", {".dockerconfigjson": docker("$oauthtoken")}),
        # a registry login whose username is the canary (someone pasted the key there): never echoed
        secret("bad-user-secret", "kubernetes.io/dockerconfigjson", {".dockerconfigjson": docker(CANARY)}),
        # an API-key secret listed as pull secret, and a registry secret as auth secret: swapped
        secret("swapped-key", "Opaque", {"NGC_API_KEY": CANARY}),
        secret(
            "swapped-pull", "kubernetes.io/dockerconfigjson", {".dockerconfigjson": docker("$oauthtoken")}
        ),
        # a docker config that is not JSON: its text must not be quoted in the error
        secret("garbled", "kubernetes.io/dockerconfigjson", {".dockerconfigjson": f"{{{CANARY}"}),
    ]


@pytest.fixture
def planted(live: Emulator) -> Emulator:
    put(
        live,
        *planted_secrets(),
        nimservice("bad-user", pull=["bad-user-secret"]),
        nimservice("swapped", authSecret="swapped-pull", pull=["swapped-key"]),
        nimservice("garbled", pull=["garbled"]),
        nimcache("llama-cache", state="Failed"),
    )
    return live


def assert_clean(text: str, where: str) -> None:
    for form in forms(CANARY):
        assert form not in text, f"the canary ({form[:12]}...) leaked into {where}"


def test_run_cluster_in_every_format(planted: Emulator, tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "kubeconfig", planted.url)
    outputs = []
    for fmt in ("table", "wide", "json", "yaml"):
        args = ["run", "--cluster", "--kubeconfig", str(config), "-A", "-o", fmt]
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 1, result.stderr  # the planted namespace has failures
        assert_clean(result.stdout + result.stderr, f"run --cluster -o {fmt}")
        outputs.append(result.stdout)
    report = json.loads(outputs[2])
    statuses = {(f["object"]["name"], f["id"]): f["status"] for f in report["findings"]}
    # the checks did read the secrets: each case was judged, not skipped
    assert statuses["bad-user", "NIM-WL-008"] == "warn"
    assert statuses["swapped", "NIM-WL-009"] == "fail"
    assert statuses["garbled", "NIM-WL-008"] == "fail"
    assert statuses["llm", "NIM-WL-007"] == "pass"


def test_audit_logs_metrics_and_events(
    planted: Emulator, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    now = [NOW]
    audit = Auditor(api_client(planted.url), catalog, None, (3, 1, 4), interval=60, clock=lambda: now[0])
    assert audit.cycle()
    now[0] += dt.timedelta(minutes=5)
    assert audit.cycle()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AuditCollector(audit))
    metrics = generate_latest(registry).decode()
    assert 'nimdoctor_workload_check_success{check="NIM-WL-009",kind="NIMService",name="swapped"' in metrics
    assert_clean(metrics, "metrics")
    assert_clean("\n".join(r.getMessage() for r in caplog.records), "log lines")

    def stored_events() -> list[str]:
        return [
            json.dumps(planted.handler.objects[key].raw)
            for key in list(planted.handler.objects)
            if planted.handler.objects[key].raw.get("kind") == "Event"
        ]

    events = planted.call(stored_events)
    assert len(events) >= 4
    assert_clean("\n".join(events), "events")
    requests = planted.call(lambda: [json.dumps(r.data) for r in planted.handler if r.method != "GET"])
    assert_clean("\n".join(requests), "requests nimdoctor sent")


def test_audit_process_logs(planted: Emulator, tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "kubeconfig", planted.url)
    result = subprocess.run(
        [sys.executable, "-m", "nimdoctor", "audit", "--once", "-A", "--kubeconfig", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "new event(s)" in result.stderr
    assert_clean(result.stdout + result.stderr, "audit process output")


def test_lint_never_prints_secret_documents(tmp_path: Path) -> None:
    """Secrets in the linted files (non-NIM documents) are ignored in every format."""
    import yaml

    manifest = tmp_path / "bundle.yaml"
    docs = [
        *planted_secrets(),
        nimservice("llm"),
        {"apiVersion": "v1", "kind": "Secret", "stringData": {"k": CANARY}},
    ]
    manifest.write_text(yaml.safe_dump_all(docs))
    for fmt in ("table", "wide", "json", "yaml", "sarif"):
        result = CliRunner().invoke(cli, ["lint", str(manifest), "-o", fmt], catch_exceptions=False)
        assert result.exit_code in (0, 1), result.stderr
        assert_clean(result.stdout + result.stderr, f"lint -o {fmt}")


def test_the_canary_check_itself_catches_a_leak() -> None:
    with pytest.raises(AssertionError):
        assert_clean(f"token: {base64.b64encode(CANARY.encode()).decode()}", "a leaky line")
