"""A real `nimdoctor agent` process on loopback, the kmock emulator, and a kubeconfig pointing at it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.cluster.emulated import faults as faults  # the fixtures
from tests.cluster.emulated import node as node
from tests.kube import Emulator, write_kubeconfig
from tests.kube import kube as kube

_T = TypeVar("_T")
SERVING = re.compile(r"serving /metrics, /healthz and /readyz on [^ ]+:(\d+)")


class AgentProcess:
    """`nimdoctor agent ARGS` with its stderr collected line by line; `port` once it serves."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nimdoctor", "agent", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = 0

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_serving(self, timeout: float = 30.0) -> int:
        """The port it serves on, once it says so."""
        match = wait_for(lambda: SERVING.search(self.log), timeout, f"agent never served:\n{self.log}")
        assert match is not None
        self.port = int(match.group(1))
        return self.port

    def get(self, path: str) -> tuple[int, str]:
        """Status and body of GET `path` on the agent's port."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send `sig` and wait for the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self.close()
        return code

    def close(self) -> None:
        """Kill it if still running, and release its pipe."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def wait_for(predicate: Callable[[], _T], timeout: float, message: str) -> _T:
    """Poll until `predicate` returns something true; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(message)


def no_cluster_env(home: Path) -> dict[str, str]:
    """An environment with no Kubernetes credentials at all: no in-cluster account, no kubeconfig."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBERNETES_", "NIMDOCTOR_"))}
    env.update(HOME=str(home), KUBECONFIG=str(home / "missing-kubeconfig"))
    return env


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    """Start agents (stopped with SIGKILL at teardown if still running)."""
    started: list[AgentProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> AgentProcess:
        agent = AgentProcess(list(args), env or no_cluster_env(tmp_path))
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.close()


@pytest.fixture
def kubeconfig(kube: Emulator, tmp_path: Path) -> Path:
    """A kubeconfig for the emulator."""
    return write_kubeconfig(tmp_path / "kubeconfig", kube.url)
