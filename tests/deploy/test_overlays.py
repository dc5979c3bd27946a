"""The example overlays: tuned-checks mounts a catalog overlay into every nimdoctor process, runbook-url
points every alert at another runbook; both leave the rest of what they build on as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from nimdoctor.catalog import load_catalog
from tests.deploy.manifests import INSTALL, MONITORING, OVERLAYS, REPO, Doc, ident, render, workloads

TUNED = OVERLAYS / "tuned-checks"
RUNBOOK = OVERLAYS / "runbook-url"
CHECKS_DIR = "/etc/nimdoctor/checks.d"


def checks_configmap() -> Doc:
    """The overlay's generated ConfigMap (its name carries a hash of the content)."""
    (found,) = (
        d
        for d in render(TUNED)
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("nimdoctor-checks-")
    )
    return found


def test_tuned_checks_keeps_the_whole_install_and_adds_one_configmap() -> None:
    base = {ident(d) for d in render(INSTALL)}
    tuned = {ident(d) for d in render(TUNED)}
    assert tuned - base == {ident(checks_configmap())}
    assert base <= tuned


def test_every_nimdoctor_process_reads_the_overrides() -> None:
    configmap = checks_configmap()["metadata"]["name"]
    processes = [w for w in workloads(render(TUNED)) if w.nimdoctor_containers()]
    assert {"agent", "audit"} <= set().union(*(w.roles() for w in processes))
    for workload in processes:
        volumes = {
            v["name"] for v in workload.pod["volumes"] if v.get("configMap", {}).get("name") == configmap
        }
        for container in workload.nimdoctor_containers():
            where = (workload.name, container["name"])
            assert {"name": "NIMDOCTOR_CHECKS_DIR", "value": CHECKS_DIR} in container.get("env", []), where
            mounts = [m for m in container["volumeMounts"] if m["name"] in volumes]
            assert mounts == [{"name": mounts[0]["name"], "mountPath": CHECKS_DIR, "readOnly": True}], where


def kubelet_configmap_volume(root: Path, data: dict[str, str]) -> Path:
    """Lay out a ConfigMap's data as the kubelet does: links through `..data` into a hidden folder."""
    stamp = root / "..2025_01_01_00_00_00.000000001"
    stamp.mkdir(parents=True)
    for name, text in data.items():
        (stamp / name).write_text(text)
    (root / "..data").symlink_to(stamp.name)
    for name in data:
        (root / name).symlink_to(f"..data/{name}")
    return root


def test_the_overrides_load_as_a_catalog_overlay_from_a_configmap_volume(tmp_path: Path) -> None:
    volume = kubelet_configmap_volume(tmp_path / "checks.d", checks_configmap()["data"])
    tuned = load_catalog(volume)
    builtin = load_catalog()
    changed = {i for i in builtin.checks if tuned.checks[i] != builtin.checks[i]}
    assert changed == {"NIM-RT-001", "NIM-FIT-005"}
    assert (
        tuned.get("NIM-RT-001").params["minNofile"] == tuned.get("NIM-FIT-005").params["minNofile"] == 1048576
    )


def test_a_node_is_judged_on_the_tuned_threshold(tmp_path: Path) -> None:
    volume = kubelet_configmap_volume(tmp_path / "checks.d", checks_configmap()["data"])
    # As in the pod: the overlay reaches `nimdoctor` through NIMDOCTOR_CHECKS_DIR.
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIMDOCTOR_")} | {
        "NIMDOCTOR_CHECKS_DIR": str(volume)
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nimdoctor",
            "run",
            "--simulate",
            "dgx-h100-containerd2",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env=env,
    )
    assert result.returncode == 1, result.stderr
    (finding,) = (f for f in json.loads(result.stdout)["findings"] if f["id"] == "NIM-RT-001")
    assert "at least 1048576" in finding["message"]


def runbook_urls(docs: list[Doc]) -> dict[str, str]:
    (rule,) = (d for d in docs if d["kind"] == "PrometheusRule")
    return {r["alert"]: r["annotations"]["runbook_url"] for g in rule["spec"]["groups"] for r in g["rules"]}


def test_runbook_url_overlay_moves_every_link_and_keeps_each_anchor() -> None:
    (base_doc,) = yaml.safe_load_all((RUNBOOK / "runbook-base.yaml").read_text())
    base = base_doc["data"]["url"]
    moved = runbook_urls(render(RUNBOOK))
    assert moved == {alert: f"{base}#{alert.lower()}" for alert in runbook_urls(render(MONITORING))}


def test_runbook_url_overlay_changes_nothing_else_and_applies_no_configmap_of_its_own() -> None:
    original, moved = render(MONITORING), render(RUNBOOK)
    assert [ident(d) for d in moved] == [ident(d) for d in original]
    for doc in (*original, *moved):
        if doc["kind"] == "PrometheusRule":
            for group in doc["spec"]["groups"]:
                for rule in group["rules"]:
                    del rule["annotations"]["runbook_url"]
    assert moved == original
