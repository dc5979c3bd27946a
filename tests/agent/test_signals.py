"""SIGTERM and SIGINT end a real agent process cleanly, within a few seconds, even while a probe is blocked
in NVML (a GPU whose every call hangs, as one fallen off the bus can)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from nimdoctor.simulation.machine import builtin_machines_dir
from tests.agent.conftest import AgentProcess, wait_for

pytestmark = pytest.mark.slow
GRACE = 6.0  # SIGTERM to exit: the agent gives a blocked probe 3 s, then leaves it


def hanging_machine(tmp_path: Path) -> Path:
    """l40s-4x with GPU 0 hanging for a minute on every NVML call."""
    spec = yaml.safe_load((builtin_machines_dir() / "l40s-4x.yaml").read_text())
    spec["metadata"]["name"] = "l40s-hang"
    spec["gpus"][0]["faults"] = [{"function": "*", "hangSeconds": 60}]
    path = tmp_path / "hang.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def stopped_within(agent: AgentProcess, sig: int) -> tuple[int, float]:
    sent = time.monotonic()
    code = agent.stop(sig, timeout=30)
    return code, time.monotonic() - sent


def test_sigterm_during_a_probe(start_agent: Callable[..., AgentProcess], tmp_path: Path) -> None:
    agent = start_agent(
        "--machine", str(hanging_machine(tmp_path)), "--no-publish", "--listen", "127.0.0.1:0"
    )
    agent.wait_serving()
    time.sleep(1.0)  # the first probe starts at once and blocks on GPU 0
    assert agent.get("/readyz")[0] == 503
    assert agent.get("/healthz") == (200, "ok\n")
    assert "nimdoctor_probe_runs_total 0.0" in agent.get("/metrics")[1]
    code, took = stopped_within(agent, signal.SIGTERM)
    assert code == 0
    assert took < GRACE
    assert "stopping with a probe or request still in flight" in agent.log
    assert "stopped by SIGTERM" in agent.log
    assert "Traceback" not in agent.log


def test_sigterm_between_probes(start_agent: Callable[..., AgentProcess]) -> None:
    agent = start_agent("--simulate", "l40s-4x", "--no-publish", "--listen", "127.0.0.1:0")
    agent.wait_serving()
    wait_for(lambda: agent.get("/readyz")[0] == 200, 20, f"never ready:\n{agent.log}")
    code, took = stopped_within(agent, signal.SIGTERM)
    assert code == 0
    assert took < 2.0
    assert "in flight" not in agent.log


def test_sigint_is_an_interruption(start_agent: Callable[..., AgentProcess]) -> None:
    agent = start_agent("--simulate", "l40s-4x", "--no-publish", "--listen", "127.0.0.1:0")
    agent.wait_serving()
    assert stopped_within(agent, signal.SIGINT)[0] == 130


def test_sigterm_during_a_one_shot_probe(start_agent: Callable[..., AgentProcess], tmp_path: Path) -> None:
    agent = start_agent("--machine", str(hanging_machine(tmp_path)), "--once", "--no-publish")
    wait_for(lambda: "one probe" in agent.log, 30, f"never started:\n{agent.log}")
    time.sleep(1.0)
    code, took = stopped_within(agent, signal.SIGTERM)
    assert code == 130
    assert took < GRACE
