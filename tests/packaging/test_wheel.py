"""The wheel ships the catalog and the built-in machines: build it, install it into a fresh venv, and run
it from outside the repository (the flat layout would otherwise import the working tree)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the freshly built wheel installed; returns its bin directory."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(work / "dist"),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next((work / "dist").glob("nimdoctor-*.whl"))
    venv.create(work / "venv", with_pip=True)
    bin_dir = work / "venv" / "bin"
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], check=True)
    return bin_dir


def run(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIMDOCTOR_", "PYTHON"))}
    return subprocess.run(
        [str(bin_dir / "nimdoctor"), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=bin_dir.parent.parent,  # outside the repository
        env=env,
    )


def test_installed_package_is_the_wheel_not_the_working_tree(installed: Path) -> None:
    result = subprocess.run(
        [
            str(installed / "python"),
            "-c",
            "import nimdoctor, nimdoctor.catalog as c; print(nimdoctor.__file__, c.builtin_dir())",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=installed.parent.parent,
    )
    module, catalog_dir = result.stdout.split()
    assert str(installed.parent) in module
    assert catalog_dir.endswith("nimdoctor/_checks")


def test_run_json_from_the_wheel(installed: Path) -> None:
    result = run(installed, "run", "-o", "json")
    assert result.returncode in (0, 1, 3), result.stderr
    report = json.loads(result.stdout)
    assert report["kind"] == "Report"
    assert {"NIM-RT-001", "NIM-RT-003"} <= {f["id"] for f in report["findings"]}


def test_explain_from_the_wheel(installed: Path) -> None:
    result = run(installed, "explain", "NIM-RT-001")
    assert result.returncode == 0, result.stderr
    assert "Too many open files" in " ".join(result.stdout.split())


def test_python_dash_m_from_the_wheel(installed: Path) -> None:
    result = subprocess.run(
        [str(installed / "python"), "-m", "nimdoctor", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=installed.parent.parent,
    )
    assert result.returncode == 0
    assert "run" in result.stdout


def test_builtin_machines_ship_in_the_wheel(installed: Path) -> None:
    result = run(
        installed, "run", "--simulate", "dgx-h100", "-o", "json", "--model", "meta/llama-3.1-8b-instruct"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["facts"]["gpu"]["nvlink"]["maxClique"] == 8
    assert report["placement"]["fits"] is True


def test_vendored_crd_schemas_ship_in_the_wheel(installed: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "routed.yaml"
    manifest.write_text(
        "apiVersion: apps.nvidia.com/v1alpha1\nkind: NIMService\nmetadata: {name: llm, namespace: nim}\n"
        "spec:\n  image: {repository: nvcr.io/nim/x, tag: '1.0'}\n  storage: {emptyDir: {}}\n"
        "  router: {hostDomainName: example.com}\n"
    )
    result = run(installed, "lint", str(manifest), "--only", "NIM-OP-002", "-o", "json")
    assert result.returncode == 1, result.stderr
    [finding] = json.loads(result.stdout)["findings"]
    assert "did you mean spec.expose.router?" in finding["message"]
