"""`nimdoctor run --cluster`: a misconfigured namespace through the real CLI and a kubeconfig."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from nimdoctor.cli import cli
from tests.kube import Emulator
from tests.workloads.cluster import NS, kubeconfig, nimservice, put


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["run", "--cluster", *args], catch_exceptions=False)


def test_misconfigured_namespace_names_each_problem_with_its_fix(live: Emulator, tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "kubeconfig", live.url)
    broken = nimservice(
        "broken",
        authSecret="ngc-secret",
        pull=["ngc-api-secret"],
        replicas=2,
        scale={"enabled": True, "hpa": {"maxReplicas": 2}},
        storage={"pvc": {"create": True, "size": "2Gi", "volumeAccessMode": "ReadWriteOnce"}},
    )
    put(live, broken)
    result = run("--kubeconfig", str(config), "-o", "json")  # the context's namespace
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (report["source"], report["scope"]) == ("cluster", [NS])
    got = {
        f["id"]
        for f in report["findings"]
        if f["object"]["name"] == "broken" and f["status"] in ("fail", "warn")
    }
    assert got == {
        "NIM-WL-001",  # no NIMCache
        "NIM-WL-003",  # RWO with two pods
        "NIM-WL-004",  # 2Gi below the 1.24B model's bf16 weights (3 GiB)
        "NIM-WL-005",  # replicas with autoscaling (the CRD's CEL rule, reported once, here)
        "NIM-WL-007",  # the auth secret has no NGC_API_KEY
        "NIM-WL-008",  # the pull secret is not a registry login
        "NIM-WL-009",  # swapped
        "NIM-WL-020",  # HPA maxReplicas above what the nodes can run (they advertise no GPUs)
    }
    assert all(f.get("field") for f in report["findings"])
    assert "file" not in report["findings"][0]
    table = " ".join(run("--kubeconfig", str(config), "-n", NS).stdout.split())  # folded columns
    assert "swapped: auth secret ngc-secret is a registry login" in table
    assert "kubectl create secret docker-registry ngc-api-secret" in table
    assert "3 NIM object(s) in namespace(s) nim-service: 32 pass, 2 warn, 6 fail, 35 skip" in table


def test_all_namespaces_and_an_empty_namespace(live: Emulator, tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "kubeconfig", live.url)
    every = json.loads(run("--kubeconfig", str(config), "-A", "-o", "json").stdout)
    assert every["scope"] == ["*"]
    assert every["objects"] == 2
    empty = run("--kubeconfig", str(config), "-n", "nobody-here", "-o", "json")
    assert empty.exit_code == 0
    assert json.loads(empty.stdout)["objects"] == 0


def test_unreachable_api_exits_3_and_bad_combinations_exit_2(live: Emulator, tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "kubeconfig", live.url)
    live.stop()
    down = run("--kubeconfig", str(config))
    assert down.exit_code == 3
    assert "cannot reach the Kubernetes API" in down.stderr
    assert run("--kubeconfig", str(config), "-n", NS, "-A").exit_code == 2
    assert run("--simulate", "dgx-h100").exit_code == 2
    plain = CliRunner().invoke(cli, ["run", "-n", NS], catch_exceptions=False)
    assert plain.exit_code == 2
    assert "go with --cluster" in plain.stderr
    missing = run("--kubeconfig", str(tmp_path / "absent"))
    assert missing.exit_code == 2
