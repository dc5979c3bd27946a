"""Exit codes nothing else chooses: 4 with one line for an unexpected exception (`--debug` for the trace),
141 for output that cannot be written (quietly when the reader went away), 130 for Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

import nimdoctor.cli.run_cmd
from nimdoctor.catalog import CatalogError
from nimdoctor.simulation.machine import load_builtin
from tests.hardening.conftest import REPO, WATCHDOG, Cli, run_process


@pytest.fixture
def broken_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug nobody caught: the pipeline raises."""

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom\x1b[2J in the pipeline")

    monkeypatch.setattr(nimdoctor.cli.run_cmd, "diagnose", boom)


@pytest.mark.usefixtures("broken_rule")
def test_an_unexpected_exception_is_one_line_and_exit_4(cli: Cli) -> None:
    result = cli("run", "--simulate", "l40s-4x")
    assert result.code == 4
    assert result.err == (
        "nimdoctor: internal error: RuntimeError: boom\ufffd in the pipeline, "
        "run with --debug for the trace\n"
    )


@pytest.mark.usefixtures("broken_rule")
def test_debug_adds_the_trace(cli: Cli) -> None:
    result = cli("--debug", "run", "--simulate", "l40s-4x")
    assert result.code == 4
    assert "Traceback (most recent call last)" in result.err
    assert 'raise RuntimeError("boom' in result.err
    assert result.err.endswith("run with --debug for the trace\n")


@pytest.mark.usefixtures("broken_rule")
def test_debug_from_the_environment(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIMDOCTOR_DEBUG", "1")
    assert "Traceback" in cli("run", "--simulate", "l40s-4x").err


def test_a_catalog_value_refused_only_when_used_is_still_an_input_error(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise CatalogError("NIM-FIT-099: field 'params.x': not usable")

    monkeypatch.setattr(nimdoctor.cli.run_cmd, "diagnose", refuse)
    result = cli("run", "--simulate", "l40s-4x")
    assert result.code == 2
    assert result.err == "Error: broken check catalog: NIM-FIT-099: field 'params.x': not usable\n"


def test_usage_errors_stay_2(cli: Cli) -> None:
    assert cli("run", "--no-such-flag").code == 2
    assert cli("no-such-command").code == 2


def test_a_closed_stdout_ends_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader went away, as `nimdoctor ... | head -1` does
    try:
        done = run_process("checks", "-o", "yaml", stdout=write_end)
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert done.stderr == ""


def test_a_full_stdout_says_so_in_one_line() -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        done = run_process("checks", "-o", "yaml", stdout=full)
    assert done.returncode == 141
    assert done.stderr == "nimdoctor: cannot write the output: No space left on device\n"


def test_ctrl_c_exits_130(tmp_path: Path) -> None:
    spec: dict[str, Any] = msgspec.to_builtins(load_builtin("l40s-4x").spec)
    spec["gpus"][0]["faults"] = [{"function": "*", "hangSeconds": 600}]  # a GPU fallen off the bus
    machine = tmp_path / "hung.yaml"
    machine.write_text(yaml.safe_dump(spec))
    process = subprocess.Popen(
        [sys.executable, "-m", "nimdoctor", "run", "--machine", str(machine), "--only", "NIM-GPU-001"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        _wait_for_the_probe_thread(process.pid)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=WATCHDOG)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "Traceback" not in err


def _wait_for_the_probe_thread(pid: int) -> None:
    """Until the GPU probe's worker thread runs (the main thread then waits on it, as when a GPU hangs)."""
    tasks = Path(f"/proc/{pid}/task")
    deadline = time.monotonic() + WATCHDOG
    while time.monotonic() < deadline:
        if len(list(tasks.iterdir())) > 1:
            return
        time.sleep(0.05)
    pytest.fail("the probe never started")
