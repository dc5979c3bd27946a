"""`nimdoctor run --host-root /` against a real process named containerd with real open-file limits.

A copy of `sleep` named `containerd` is started with RLIMIT_NOFILE set in the child, so the probe reads the
kernel's own `/proc/<pid>/limits` for it.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

RT_CHECKS = "NIM-RT-001,NIM-RT-003"
Starter = Callable[[int, int], "subprocess.Popen[bytes]"]


def settable(soft: int, hard: int) -> bool:
    """Whether this environment lets a child process take these limits (raising the hard limit needs
    CAP_SYS_RESOURCE, which some sandboxes withhold even from root)."""
    code = f"import resource; resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))"
    return subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def other_containerd() -> list[int]:
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "containerd":
                pids.append(int(comm.parent.name))
        except OSError:
            continue
    return pids


@pytest.fixture
def start_containerd(tmp_path: Path) -> Iterator[Starter]:
    if other_containerd():
        pytest.skip("a real containerd runs on this machine; the probe would rightly pick the older daemon")
    binary = tmp_path / "containerd"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", binary)
    started: list[subprocess.Popen[bytes]] = []

    def start(soft: int, hard: int) -> subprocess.Popen[bytes]:
        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

        proc = subprocess.Popen([str(binary), "300"], preexec_fn=limit)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def run_json(*args: str) -> tuple[int, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "nimdoctor", "run", "--host-root", "/", "-o", "json", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NIMDOCTOR_NODE_NAME": "real-node"},
    )
    return result.returncode, json.loads(result.stdout)


def finding(report: Any, check_id: str) -> Any:
    return next(f for f in report["findings"] if f["id"] == check_id)


def test_containerd_at_1024_fails_with_its_pid_and_limits(start_containerd: Starter) -> None:
    hard = 524288 if settable(1024, 524288) else resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    proc = start_containerd(1024, hard)
    code, report = run_json("--only", RT_CHECKS)
    rt1 = finding(report, "NIM-RT-001")
    assert code == 1
    assert report["node"] == "real-node"
    assert rt1["status"] == "fail"
    assert rt1["evidence"] == {
        "pid": proc.pid,
        "source": f"/proc/{proc.pid}/limits",
        "candidates": rt1["evidence"]["candidates"],
        "chosenBy": rt1["evidence"]["chosenBy"],  # depends on the cgroup the tests run in
        "nofileSoft": 1024,
        "nofileHard": hard,
        "required": 65536,
    }
    assert {"pid": proc.pid}.items() <= rt1["evidence"]["candidates"][0].items()
    assert report["facts"]["runtime"]["containerd"] == {
        "pid": proc.pid,
        "nofileSoft": 1024,
        "nofileHard": hard,
        "source": f"/proc/{proc.pid}/limits",
    }
    assert "LimitNOFILE=65536" in str(rt1["fix"])


def test_table_output_prints_the_fix_and_exits_1(start_containerd: Starter) -> None:
    proc = start_containerd(1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    result = subprocess.run(
        [sys.executable, "-m", "nimdoctor", "run", "--host-root", "/", "--only", RT_CHECKS],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert f"containerd (pid {proc.pid}) open files: soft 1024" in result.stdout
    assert "sudo systemctl daemon-reload && sudo systemctl restart containerd" in result.stdout
    assert result.stderr == ""


@pytest.mark.skipif(
    not settable(65536, 65536),
    reason="this sandbox withholds CAP_SYS_RESOURCE, so no process here may hold 65536 open files; "
    "CI as root normally can (the overlay test below proves the pass path with a reachable threshold)",
)
def test_containerd_at_65536_passes(start_containerd: Starter) -> None:
    proc = start_containerd(65536, 65536)
    code, report = run_json("--only", RT_CHECKS)
    assert code == 0
    assert finding(report, "NIM-RT-001")["status"] == "pass"
    assert finding(report, "NIM-RT-003")["message"] == f"containerd daemon is pid {proc.pid}"


def test_threshold_from_an_overlay_passes_a_real_process(start_containerd: Starter, tmp_path: Path) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    soft = min(8192, hard)
    start_containerd(soft, hard)
    overlay = tmp_path / "checks.d"
    overlay.mkdir()
    (overlay / "site.yaml").write_text(
        "apiVersion: nimdoctor.io/v1alpha1\nkind: CheckCatalog\nchecks:\n"
        f"  - id: NIM-RT-001\n    params: {{minNofile: {soft}}}\n"
    )
    code, report = run_json("--only", RT_CHECKS, "--checks-dir", str(overlay))
    assert code == 0
    assert finding(report, "NIM-RT-001")["status"] == "pass"
    code, report = run_json("--only", "NIM-RT-001", "--checks-dir", str(overlay), "--node-name", "x")
    assert report["node"] == "x"
