"""Fixtures for the workload tests: a NIM namespace in the kmock emulator, and judging it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.workloads.collect import collect
from nimdoctor.workloads.evaluate import evaluate, workload_checks
from nimdoctor.workloads.report import WorkloadFinding
from tests.kube import Emulator, api_client
from tests.workloads.cluster import (
    NFD,
    NOW,
    NS,
    api_key_secret,
    declare,
    nimcache,
    nimservice,
    node,
    nodereport,
    put,
    pvc,
    registry_secret,
    serve_version,
    storage_class,
)

Judged = dict[tuple[str, str], WorkloadFinding]


@pytest.fixture
def live() -> Iterator[Emulator]:
    """A healthy NIM namespace (every check passes or skips) that a test then breaks."""
    emulator = Emulator()
    emulator.start()
    try:
        declare(emulator)
        serve_version(emulator, "v1.34.1")
        put(
            emulator,
            nimservice("llm"),
            nimcache("llama-cache"),
            api_key_secret(),
            registry_secret(),
            pvc("llama-cache-pvc", ["ReadWriteMany"]),
            storage_class("rwx", default=True),
            node("gpu-1", **NFD),
            nodereport("gpu-1", "dgx-h100"),
        )
        yield emulator
        assert_no_client_left(emulator)
    finally:
        emulator.close()


def assert_no_client_left(emulator: Emulator, wait: float = 5.0) -> None:
    """Fail a test that leaves an API client connected: its socket would outlive the emulator and be
    reclaimed by the garbage collector at some later point, in whatever test runs then."""

    def open_connections() -> int:
        names = [getattr(task.get_coro(), "__qualname__", "") for task in asyncio.all_tasks()]
        return names.count("RequestHandler.start")  # aiohttp's task per open connection

    deadline = time.monotonic() + wait
    while (count := emulator.call(open_connections)) and time.monotonic() < deadline:
        time.sleep(0.05)  # a client closed just now: the server sees the end of its connection shortly
    assert count == 0, f"{count} API connection(s) still open: close the ApiClient (client.close())"


def judge(kube: Emulator, catalog: Catalog, namespaces: list[str] | None = None) -> Judged:
    """Collect from the emulator and judge: findings by (object name, check id)."""
    client = api_client(kube.url)
    try:
        snapshot = collect(client, namespaces or [NS], catalog, (3, 1, 4), now=NOW)
    finally:
        client.close()
    findings = evaluate(snapshot.subjects, snapshot.world, workload_checks(catalog))
    return {(f.object.name, f.id): f for f in findings}


def problems(judged: Judged) -> dict[tuple[str, str], str]:
    """The findings that need attention, as statuses."""
    return {k: f.status.value for k, f in judged.items() if f.status.value in ("fail", "warn", "error")}
