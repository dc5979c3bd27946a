"""The report cache fed by a list+watch of NodeReports through the official client, against the kmock
emulator: adds, changes and deletions change decisions; 410 Gone starts over with a list; an API outage
leaves the extender answering from memory and the watch picks up again."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kmock
import pytest
from click.testing import CliRunner

from nimdoctor.catalog import Catalog
from nimdoctor.cli import cli
from nimdoctor.cluster.nodereport import GROUP, PLURAL, VERSION
from nimdoctor.cluster.watch import ListWatch, nodereport_lister
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.decide import MISSING
from nimdoctor.extender.run import Extender
from nimdoctor.report import format_time
from tests.extender.live import Client, LiveExtender
from tests.extender.process import ExtenderProcess
from tests.kube import Emulator, api_client, write_kubeconfig
from tests.placement.pods import nim_pod

pytestmark = pytest.mark.slow

RESOURCE = kmock.resource(GROUP, VERSION, PLURAL)
POD_70B = nim_pod("meta/llama-3.1-70b-instruct", gpus=4)
H100 = {
    "gpuProduct": "H100-SXM",
    "gpuCount": 8,
    "gpuMemoryBytes": 81559 * 2**20,
    "maxNvlinkClique": 8,
    "computeCapability": "9.0",
    "nofileSoft": 1048576,
    "virtualization": "none",
    "migEnabled": False,
}


def nodereport(name: str, *, ready: bool = True, **capabilities: Any) -> dict[str, Any]:
    """A NodeReport as the agent publishes it, with a fresh heartbeat."""
    now = format_time(dt.datetime.now(dt.UTC))
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NodeReport",
        "metadata": {"name": name},
        "status": {
            "ready": ready,
            "capabilities": {"ready": ready, **H100, **capabilities},
            "findings": [],
            "observedAt": now,
            "heartbeatTime": now,
        },
    }


def declare(emulator: Emulator) -> None:
    """Serve the NodeReport resource (an empty list until objects exist)."""

    def run() -> None:
        emulator.handler.resources[RESOURCE] = kmock.ResourceInfo(
            kind="NodeReport", namespaced=False, verbs={"list", "watch", "get", "create", "patch", "delete"}
        )

    emulator.call(run)


def store(emulator: Emulator, report: dict[str, Any]) -> None:
    """Put an object straight into the emulator's store (no API call: works during an outage too)."""
    name = report["metadata"]["name"]

    def run() -> None:
        emulator.handler.objects[RESOURCE, None, name] = report

    emulator.call(run)


def custom_objects(emulator: Emulator) -> Any:
    """The official client's CustomObjectsApi on the emulator."""
    from kubernetes import client

    return client.CustomObjectsApi(api_client(emulator.url))


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def watched(emulator: Emulator, catalog: Catalog) -> LiveExtender:
    """An extender whose cache is fed by a ListWatch on `emulator` (fast backoff, short watches)."""
    cache = ReportCache(900)
    watch = ListWatch(
        nodereport_lister(api_client(emulator.url)),
        cache.apply_list,
        cache.apply_event,
        watch_timeout=2,
        read_grace=1,
        backoff_base=0.05,
        backoff_cap=0.2,
        name="test-watch",
    )
    return LiveExtender(Extender.assemble(cache, catalog, watch=watch))


@pytest.fixture
def setup(kube: Emulator, catalog: Catalog) -> Iterator[tuple[Emulator, LiveExtender, Client]]:
    declare(kube)
    running = watched(kube, catalog).start()
    client = running.client()
    try:
        yield kube, running, client
    finally:
        client.close()
        running.stop()


def failed(client: Client, *names: str) -> dict[str, str]:
    status, body = client.post("/filter", {"Pod": POD_70B, "Nodes": None, "NodeNames": list(names)})
    assert status == 200, body
    result: dict[str, str] = json.loads(body)["FailedAndUnresolvableNodes"]
    return result


def lists(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests() if r.action == kmock.action.LIST and r.resource == RESOURCE)


def test_a_nodereport_added_modified_and_deleted_changes_decisions(
    setup: tuple[Emulator, LiveExtender, Client],
) -> None:
    emulator, running, client = setup
    assert running.extender.cache.wait_synced(10)
    custom = custom_objects(emulator)
    assert failed(client, "gpu-1") == {"gpu-1": MISSING}

    custom.create_cluster_custom_object(GROUP, VERSION, PLURAL, nodereport("gpu-1"))
    eventually(lambda: failed(client, "gpu-1") == {})

    custom.patch_cluster_custom_object(
        GROUP, VERSION, PLURAL, "gpu-1", {"status": {"capabilities": {"nofileSoft": 1024}}}
    )
    eventually(lambda: failed(client, "gpu-1").get("gpu-1", "").startswith("NIM-FIT-005 "))

    custom.patch_cluster_custom_object(GROUP, VERSION, PLURAL, "gpu-1", nodereport("gpu-1", ready=False))
    eventually(lambda: failed(client, "gpu-1").get("gpu-1", "").startswith("NIM-FIT-008 node not ready"))

    custom.delete_cluster_custom_object(GROUP, VERSION, PLURAL, "gpu-1")
    eventually(lambda: failed(client, "gpu-1") == {"gpu-1": MISSING})


def test_410_gone_on_the_watch_starts_over_with_a_list(kube: Emulator, catalog: Catalog) -> None:
    declare(kube)
    store(kube, nodereport("gpu-1"))
    gone = {
        "type": "ERROR",
        "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"},
    }

    def script() -> None:
        kube.handler[kmock.action.WATCH, RESOURCE][:1] << json.dumps(gone).encode() + b"\n"

    kube.call(script)
    running = watched(kube, catalog).start()
    try:
        assert running.extender.cache.wait_synced(10)
        watch = running.extender.watch
        assert watch is not None
        eventually(lambda: watch.stats.relists_after_gone == 1 and lists(kube) == 2)
        with running.client() as client:
            assert failed(client, "gpu-1") == {}
            # Created through the API: an event on the watch that followed the re-list.
            custom_objects(kube).create_cluster_custom_object(
                GROUP, VERSION, PLURAL, nodereport("gpu-2", gpuCount=2)
            )
            eventually(lambda: failed(client, "gpu-2").get("gpu-2", "").startswith("NIM-FIT-002 "), timeout=2)
    finally:
        running.stop()


def test_an_api_outage_is_answered_from_memory_and_the_watch_resumes(
    setup: tuple[Emulator, LiveExtender, Client],
) -> None:
    emulator, running, client = setup
    custom_objects(emulator).create_cluster_custom_object(GROUP, VERSION, PLURAL, nodereport("gpu-1"))
    eventually(lambda: failed(client, "gpu-1") == {})
    watch = running.extender.watch
    assert watch is not None
    port = emulator.port
    emulator.stop()
    store(emulator, nodereport("gpu-1", nofileSoft=1024))  # changes while the API is unreachable
    eventually(lambda: watch.stats.errors >= 2)  # the watch broke, and the retry was refused
    assert failed(client, "gpu-1") == {}  # still answered, from the last known report
    assert client.get("/readyz")[0] == 200
    assert client.get("/healthz")[0] == 200
    emulator.start(port=port)
    eventually(lambda: failed(client, "gpu-1").get("gpu-1", "").startswith("NIM-FIT-005 "))
    assert watch.alive


def test_filter_answers_503_until_the_first_list_succeeds(kube: Emulator, catalog: Catalog) -> None:
    declare(kube)
    store(kube, nodereport("gpu-1"))
    port = kube.port
    kube.stop()  # the API is down when the extender starts
    running = watched(kube, catalog).start()
    try:
        with running.client() as client:
            request = {"Pod": POD_70B, "Nodes": None, "NodeNames": ["gpu-1"]}
            time.sleep(0.3)
            assert client.post("/filter", request)[0] == 503
            assert client.get("/readyz")[0] == 503
            kube.start(port=port)
            assert running.extender.cache.wait_synced(10)
            assert client.get("/readyz")[0] == 200
            assert failed(client, "gpu-1") == {}
    finally:
        running.stop()


def test_the_command_watches_the_cluster_named_by_its_kubeconfig(kube: Emulator, tmp_path: Path) -> None:
    declare(kube)
    custom_objects(kube).create_cluster_custom_object(GROUP, VERSION, PLURAL, nodereport("gpu-1"))
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube.url)
    args = ["--kubeconfig", str(kubeconfig), "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"]
    process = ExtenderProcess(args, tmp_path / "extender.log").wait_listening()
    try:
        with Client(process.metrics_port) as metrics, Client(process.port) as client:
            eventually(lambda: metrics.get("/readyz")[0] == 200)
            assert metrics.get("/healthz")[0] == 200
            assert failed(client, "gpu-1", "gpu-2") == {"gpu-2": MISSING}
            assert b"nimdoctor_extender_cached_reports 1.0" in metrics.get("/metrics")[1]
    finally:
        assert process.stop() == 0, process.output()


def test_no_credentials_is_a_usage_error(tmp_path: Path) -> None:
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "none"), "KUBERNETES_SERVICE_HOST": ""}
    result = CliRunner(env=env).invoke(cli, ["extender", "--listen", "127.0.0.1:0"])
    assert result.exit_code == 2
    assert "no Kubernetes credentials" in result.output
    result = CliRunner().invoke(cli, ["extender", "--kubeconfig", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "no such file" in result.output
