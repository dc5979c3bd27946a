"""Bad input gets a clear answer and the server keeps serving: 413 past the cap, 400 naming the problem,
503 until the cache has synced; never a 500, never a dropped keep-alive connection after a 400."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Iterator

import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.run import Extender
from tests.extender.live import Client, LiveExtender, live
from tests.placement.pods import nim_pod

POD = nim_pod("meta/llama-3.1-8b-instruct", gpus=1)
CAP = 4096


def response(sock: socket.socket) -> tuple[int, bytes]:
    """The status and the whole body of the answer on `sock`, however many reads it takes to arrive."""
    answer = http.client.HTTPResponse(sock)
    answer.begin()
    return answer.status, answer.read()


@pytest.fixture(scope="module")
def capped(catalog: Catalog) -> Iterator[LiveExtender]:
    """An extender whose body cap is 4 KiB."""
    running = live(catalog, max_body=CAP).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "ExtenderArgs: Input data was truncated"),
        (b"not json", "ExtenderArgs: JSON is malformed"),
        (b"[]", "ExtenderArgs: Expected `object`, got `array`"),
        (b'{"NodeNames": ["a"]}', "ExtenderArgs: Object missing required field `Pod`"),
        (b'{"Pod": null, "NodeNames": ["a"]}', "ExtenderArgs: Expected `object`, got `null` - at `$.Pod`"),
        (b'{"Pod": {}, "NodeNames": "a"}', "Expected `array | null`, got `str` - at `$.NodeNames`"),
        (b'{"Pod": {}, "NodeNames": [1]}', "Expected `str`, got `int` - at `$.NodeNames[0]`"),
        (b'{"Pod": {}, "Nodes": null, "NodeNames": null}', "neither NodeNames nor Nodes is given"),
        (
            b'{"Pod": {}, "Nodes": {"items": [{"metadata": {}}]}}',
            "Nodes.items[0]: Object missing required field `name`",
        ),
        (b'{"Pod": {}, "Nodes": {"items": [7]}}', "Nodes.items[0]: Expected `object`, got `int`"),
        (
            b'{"Pod": {}, "Nodes": {"items": [{"metadata": {"name": "a"}}]}, "NodeNames": ["b"]}',
            "NodeNames and Nodes.items name different nodes",
        ),
    ],
)
def test_a_body_that_is_not_extender_args_is_a_400_naming_the_problem(
    capped: LiveExtender, body: bytes, problem: str
) -> None:
    with capped.client() as client:
        for verb in ("/filter", "/prioritize"):
            status, answer = client.post(verb, body)
            assert status == 400
            assert problem in json.loads(answer)["Error"]
        # The same connection goes on serving.
        status, _ = client.post("/filter", {"Pod": POD, "Nodes": None, "NodeNames": ["dgx-h100"]})
        assert status == 200
        assert client.connects == 1


def test_a_body_over_the_cap_is_a_413_and_the_server_keeps_serving(capped: LiveExtender) -> None:
    big = {"Pod": POD, "Nodes": None, "NodeNames": [f"gpu-{i:06d}" for i in range(1000)]}
    with capped.client() as client:
        status, answer = client.post("/filter", big)
        assert status == 413
        assert f"--max-body ({CAP} bytes)" in json.loads(answer)["Error"]
        status, _ = client.post("/filter", {"Pod": POD, "Nodes": None, "NodeNames": ["dgx-h100"]})
        assert status == 200


def test_a_chunked_body_over_the_cap_is_a_413_too(capped: LiveExtender) -> None:
    # A raw socket: the server may answer and close while the client is still sending.
    with socket.create_connection(("127.0.0.1", capped.port), timeout=10) as sock:
        head = b"POST /filter HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunk = b"400\r\n" + b"x" * 1024 + b"\r\n"
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head + chunk * 16 + b"0\r\n\r\n")
        status, _ = response(sock)
    assert status == 413


def test_failures_are_counted_per_verb(capped: LiveExtender) -> None:
    metrics = capped.extender.metrics.registry
    before = metrics.get_sample_value("nimdoctor_extender_request_failures_total", {"verb": "prioritize"})
    assert before is not None
    with capped.client() as client:
        client.post("/prioritize", b"{")
    after = metrics.get_sample_value("nimdoctor_extender_request_failures_total", {"verb": "prioritize"})
    assert after == before + 1


def test_until_the_cache_has_synced_filter_answers_503_and_readyz_fails(catalog: Catalog) -> None:
    cache = ReportCache(900)
    running = LiveExtender(Extender.assemble(cache, catalog)).start()
    request = {"Pod": POD, "Nodes": None, "NodeNames": ["dgx-h100"]}
    try:
        with running.client() as client, Client(running.metrics_port) as metrics:
            assert client.post("/filter", request)[0] == 503
            assert client.post("/prioritize", request)[0] == 503
            assert client.get("/readyz")[0] == 503
            assert client.get("/healthz")[0] == 200
            assert metrics.get("/readyz")[0] == 503
            assert b"nimdoctor_extender_cache_synced 0.0" in metrics.get("/metrics")[1]
            cache.replace([])
            assert client.post("/filter", request)[0] == 200
            assert client.get("/readyz")[0] == 200
            assert b"nimdoctor_extender_cache_synced 1.0" in metrics.get("/metrics")[1]
    finally:
        running.stop()


def test_a_body_that_never_arrives_is_a_408_not_a_hang(catalog: Catalog) -> None:
    cache = ReportCache(None)
    cache.replace([])
    extender = Extender.assemble(cache, catalog)
    extender.webhook.read_timeout = 0.3
    running = LiveExtender(extender).start()
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
            sock.sendall(b"POST /filter HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            status, answer = response(sock)  # the headers and the body may come in separate reads
        assert status == 408
        assert b"request body not received within 0.3 s" in answer
        with running.client() as client:  # and the server goes on
            assert client.get("/healthz")[0] == 200
    finally:
        running.stop()
