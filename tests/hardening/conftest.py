"""Running nimdoctor on hostile input: the command in-process (under a watchdog) or as a real process, and a
canary beside every host tree that no read may reach."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from nimdoctor.cli import run
from nimdoctor.probes.deadline import DeadlineExceeded, run_with_deadline
from tests.hosts import HostTree, host_tree, limits_text

# Every case must end well within this; a hang fails the test instead of stalling the suite.
WATCHDOG = 60.0
CANARY = "31337"
RT_ONLY = ("--only", "NIM-RT-001,NIM-RT-002,NIM-RT-003")
REPO = Path(__file__).resolve().parents[2]
CHECK_CATALOG = "apiVersion: nimdoctor.io/v1alpha1\nkind: CheckCatalog\nchecks:\n"


@dataclass(frozen=True)
class Result:
    """What a command did: its exit code and its two streams."""

    code: int
    out: str
    err: str


Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """`nimdoctor ARGS` in this process, failing the test if it does not end within `WATCHDOG`."""

    def invoke(*args: str) -> Result:
        capsys.readouterr()
        try:
            code = run_with_deadline(lambda: run(list(args)), WATCHDOG, name="nimdoctor-under-test")
        except DeadlineExceeded:
            pytest.fail(f"nimdoctor {' '.join(args)} did not end within {WATCHDOG:g} s")
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


def run_process(
    *args: str, env_extra: dict[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """`python -m nimdoctor ARGS` as a real process (for memory limits, signals, users and closed pipes)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    streams = {"stderr": subprocess.PIPE} if "stdout" in kwargs else {"capture_output": True}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "nimdoctor", *args],
        **streams,
        text=True,
        timeout=WATCHDOG,
        env=env,
        check=False,
        **kwargs,
    )


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Files beside the host tree, holding the canary value: no host read may ever reach them."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "limits").write_text(limits_text(CANARY, CANARY))
    (directory / "comm").write_text("containerd\n")
    (directory / "containerd.service").write_text(f"[Service]\nLimitNOFILE={CANARY}\n")
    return directory


@pytest.fixture
def tree(tmp_path: Path) -> HostTree:
    """An empty host tree (with `/proc`) at tmp_path/host."""
    return host_tree(tmp_path / "host")


def overlay_dir(tmp_path: Path, entries: str, name: str = "site.yaml") -> Path:
    """A `--checks-dir` folder holding one CheckCatalog file with these `checks:` entries (YAML text)."""
    folder = tmp_path / "overlay"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(CHECK_CATALOG + entries)
    return folder
