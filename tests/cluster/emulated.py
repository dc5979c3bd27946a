"""Helpers over the kmock emulator: our Node, scripted API faults, stored objects, the request log."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.cluster.reports import NODE, NOW
from tests.kube import Emulator

NODE_KEY = ("v1/nodes", None, NODE)
REPORT_KEY = ("nimdoctor.io/v1alpha1/nodereports", None, NODE)
KUBELET_CONDITIONS = [
    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
    {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready"},
    {"type": "KernelDeadlock", "status": "False", "reason": "KernelHasNoDeadlock"},  # Node Problem Detector
]
FAULT_CODES = (401, 403, 404, 409, 410, 500, 503)


class Clock:
    """A wall clock the test moves."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class Faults:
    """Raw kmock reactions in front of the emulator: while `code` is set, every request whose method is
    in `methods` (all when empty) gets that status with a Kubernetes `Status` body; while `delay` is set,
    answers come that many seconds late."""

    def __init__(self, emulator: Emulator) -> None:
        self.code = 0
        self.delay = 0.0
        self.methods: set[str] = set()

        def failing(request: Any, code: int) -> bool:
            method = str(request.method.value).upper()
            return self.code == code and (not self.methods or method in self.methods)

        async def late(request: Any) -> None:
            await asyncio.sleep(self.delay)

        def install() -> None:
            for code in FAULT_CODES:
                status = {"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code}
                status["message"] = f"scripted {code}"
                emulator.handler[lambda r, c=code: failing(r, c)] << code << status
            emulator.handler[lambda r: self.delay > 0] >> late

        emulator.call(install)


def put_node(emulator: Emulator, labels: dict[str, str] | None = None) -> None:
    """Our Node as a kubelet would have registered it."""
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE,
            "uid": "4a5e5c42-7a3c-4e0e-9d51-1f1d4d0b8a11",
            "labels": labels or {"kubernetes.io/hostname": NODE},
        },
        "status": {"conditions": [dict(c) for c in KUBELET_CONDITIONS]},
    }
    emulator.call(lambda: emulator.handler.objects.__setitem__(NODE_KEY, node))


def stored(emulator: Emulator, key: tuple[str, None, str]) -> Any:
    """An object as the emulator holds it now (None once deleted)."""

    def read() -> Any:
        try:
            obj = emulator.handler.objects[key]
        except KeyError:
            return None
        return None if obj.deleted else obj.raw

    return emulator.call(read)


def log_since(emulator: Emulator, start: int) -> list[tuple[str, str, str | None]]:
    """(method, path, content type) of each request after the first `start`."""
    return [
        (str(r.method.value).upper(), urlsplit(str(r.url)).path, r.headers.get("Content-Type"))
        for r in emulator.requests()[start:]
    ]


@pytest.fixture
def node(kube: Emulator) -> Emulator:
    """The emulator with our Node registered."""
    put_node(kube)
    return kube


@pytest.fixture
def faults(kube: Emulator) -> Faults:
    """Scripted faults, all off to start with."""
    return Faults(kube)
