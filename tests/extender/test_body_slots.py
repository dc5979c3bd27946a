"""The webhook buffers at most four request bodies at once: real concurrent slow uploads on loopback, the
bytes buffered counted by the webhook's own `BodyBuffers`. A fifth body waits for a slot, unread, and is
answered once one frees; uploads that stall keep their slots only until the body timeout (408)."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.extender.bodies import BodyBuffers
from tests.extender.live import LiveExtender, live
from tests.placement.pods import nim_pod

SLOTS = 4  # bodies buffered at once, as docs/hardening.md states
CAP = 1024 * 1024  # --max-body for these tests
FIRST = 256 * 1024  # what each slow upload sends before it stalls (fits loopback's socket buffers)
ARGS = json.dumps({"Pod": nim_pod("meta/llama-3.1-8b-instruct", gpus=1), "NodeNames": ["dgx-h100"]}).encode()
# A valid ExtenderArgs padded with leading whitespace to the cap: the largest body the webhook takes.
BODY = b" " * (CAP - len(ARGS)) + ARGS
HEAD = f"POST /filter HTTP/1.1\r\nHost: x\r\nContent-Length: {CAP}\r\n\r\n".encode()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def answer(sock: socket.socket) -> int:
    response = http.client.HTTPResponse(sock)
    response.begin()
    response.read()
    return response.status


@contextlib.contextmanager
def uploads(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections, each having sent its headers and the first FIRST bytes of a CAP-byte body."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=15) for _ in range(count)]
    try:
        for sock in socks:
            sock.sendall(HEAD + BODY[:FIRST])
        yield socks
    finally:
        for sock in socks:
            sock.close()


@pytest.fixture
def running(catalog: Catalog) -> Iterator[LiveExtender]:
    extender = live(catalog, max_body=CAP).start()
    try:
        yield extender
    finally:
        extender.stop()


def test_a_fifth_large_body_waits_unread_until_a_slot_frees(running: LiveExtender) -> None:
    bodies: BodyBuffers = running.extender.webhook.bodies
    with uploads(running.port, SLOTS + 1) as socks:
        wait_for(
            lambda: bodies.held == SLOTS * FIRST and bodies.waiting == 1, "four bodies held, one waiting"
        )
        time.sleep(0.3)  # the fifth stays unread, however long it waits
        assert (bodies.held, bodies.waiting) == (SLOTS * FIRST, 1)
        for sock in socks:
            sock.sendall(BODY[FIRST:])
        assert [answer(sock) for sock in socks] == [200] * (SLOTS + 1)
    assert (bodies.held, bodies.waiting) == (0, 0)
    assert SLOTS * FIRST <= bodies.peak <= SLOTS * CAP


def test_stalled_uploads_hold_their_slots_only_until_the_body_timeout(running: LiveExtender) -> None:
    bodies: BodyBuffers = running.extender.webhook.bodies
    running.extender.webhook.read_timeout = 2.0
    with uploads(running.port, SLOTS) as stalled:
        wait_for(lambda: bodies.held == SLOTS * FIRST, "four bodies held")
        # The fifth starts its own timeout a second after theirs, so it has that second to be read once their
        # slots free, however slow a loaded machine is.
        time.sleep(1.0)
        with socket.create_connection(("127.0.0.1", running.port), timeout=15) as fifth:
            fifth.sendall(HEAD + BODY)  # whole, but no slot is free for it
            wait_for(lambda: bodies.waiting == 1, "the fifth waiting")
            assert [answer(sock) for sock in stalled] == [408] * SLOTS
            assert answer(fifth) == 200  # served once their slots freed, within its own timeout
    assert (bodies.held, bodies.waiting) == (0, 0)
    # The fifth's body was read only once a stalled one was dropped: beside at most three of them.
    assert bodies.peak <= (SLOTS - 1) * FIRST + CAP
