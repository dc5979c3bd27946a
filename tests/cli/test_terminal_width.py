"""Tables for people, through a real process: as wide as `COLUMNS` or the terminal says, and at any width
no id, name or path split across lines (wrapping moves only the spaces between words)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from collections import Counter
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DROP_IN = "/etc/systemd/system/containerd.service.d/override.conf"
COMMANDS = {
    "run": ["run", "--simulate", "dgx-h100-containerd2", "--model", "meta/llama-3.3-nemotron-super-49b-v1"],
    "run wide": ["run", "--simulate", "l40s-vgpu-2x", "--model", "meta/llama-3.1-70b-instruct", "-o", "wide"],
    "plan": ["plan", "--model", "meta/llama-3.1-70b-instruct"],
    "plan wide": ["plan", "--model", "meta/llama-3.1-70b-instruct", "-o", "wide"],
    "capacity wide": [
        "capacity",
        "--model",
        "meta/llama-3.1-70b-instruct",
        "--reports",
        str(FIXTURES / "capacity-fleet_reports.json"),
        "--pods",
        str(FIXTURES / "capacity-fleet_pods.json"),
        "--trust-simulated",
        "-o",
        "wide",
    ],
    "checks": ["checks"],
    "checks wide": ["checks", "-o", "wide"],
    "explain": ["explain", "NIM-FIT-005"],
    "machine list": ["machine", "list"],
}


def nimdoctor(args: list[str], columns: int | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    result = subprocess.run(
        [sys.executable, "-m", "nimdoctor", *args], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode in (0, 1, 3), result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def outputs() -> dict[tuple[str, int], str]:
    return {(name, width): nimdoctor(args, width) for name, args in COMMANDS.items() for width in (60, 200)}


@pytest.mark.parametrize("name", COMMANDS)
def test_narrow_and_wide_hold_the_same_words_so_nothing_was_split(
    name: str, outputs: dict[tuple[str, int], str]
) -> None:
    narrow, wide = outputs[(name, 60)], outputs[(name, 200)]
    assert Counter(narrow.split()) == Counter(wide.split())
    assert len(narrow.splitlines()) > len(wide.splitlines())  # the narrow one did wrap


def test_ids_names_and_paths_are_whole_at_60_columns(outputs: dict[tuple[str, int], str]) -> None:
    run = outputs[("run", 60)].split()
    assert {
        "NIM-RT-001",
        "NIM-FIT-005",
        "dgx-h100-containerd2",
        DROP_IN,
        "nvidia/llama-3.3-nemotron-super-49b-v1",
    } <= set(run)
    assert {"h100-pcie-nvlink-pairs", "NIM-FIT-004", "NIM-FIT-011"} <= set(outputs[("plan", 60)].split())


@pytest.mark.parametrize("name", ["checks", "machine list"])
def test_tables_without_long_tokens_fit_60_columns(name: str, outputs: dict[tuple[str, int], str]) -> None:
    assert max(len(line) for line in outputs[(name, 60)].splitlines()) <= 60


def test_columns_200_is_used_and_never_exceeded(outputs: dict[tuple[str, int], str]) -> None:
    lines = outputs[("checks wide", 200)].splitlines()
    assert max(len(line) for line in lines) <= 200
    assert max(len(line) for line in lines) > 120  # titles and short lines side by side


def test_without_columns_a_pipe_gets_80() -> None:
    lines = nimdoctor(["checks"], None).splitlines()
    assert 70 < max(len(line) for line in lines) <= 80


def test_a_terminal_gets_its_own_width() -> None:
    """stdout is a real pseudo-terminal of 100 columns, and COLUMNS is unset: the table fills 100."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 100, 0, 0))
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nimdoctor", "checks", "-o", "wide"], stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    lines = b"".join(chunks).decode().splitlines()
    assert lines[0].split()[:3] == ["ID", "SEVERITY", "AREA"]
    assert 90 < max(len(line) for line in lines) <= 100
