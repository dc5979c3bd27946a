"""Idle, slow and surplus connections cannot pile up on any nimdoctor port: real uvicorn servers on loopback
(the agent's port, the extender's webhook and metrics sockets) with the limits of `nimdoctor.serving`."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from nimdoctor.agent.server import LIMITS as AGENT_LIMITS
from nimdoctor.agent.server import HttpServer, health_app
from nimdoctor.catalog import Catalog
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.run import Extender
from nimdoctor.extender.serve import METRICS_LIMITS
from nimdoctor.serving import Limits
from nimdoctor.workloads.server import LIMITS as AUDIT_LIMITS
from tests.extender.live import LiveExtender

SHORT = Limits(keep_alive=1.0, request_timeout=1.0, max_connections=4)
GRACE = 5.0  # seconds past a limit before a test gives up waiting for the close


# The cap alone: idle and request timeouts far past GRACE, so a close within GRACE can only be the cap's.
CAPPED = Limits(keep_alive=60.0, request_timeout=60.0, max_connections=SHORT.max_connections)


def agent_server(limits: Limits) -> Iterator[int]:
    server = HttpServer("127.0.0.1", 0, health_app(CollectorRegistry(), lambda: True, 1.0), limits)
    server.start()
    try:
        yield server.port
    finally:
        server.stop()


@pytest.fixture
def agent_port() -> Iterator[int]:
    yield from agent_server(SHORT)


@pytest.fixture
def capped_agent_port() -> Iterator[int]:
    yield from agent_server(CAPPED)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=SHORT.keep_alive + GRACE)


def closed_after(sock: socket.socket) -> float:
    """Seconds until the server closes `sock` (reading and discarding what it sends first)."""
    started = time.monotonic()
    while sock.recv(4096):
        pass
    return time.monotonic() - started


def trickled_until_closed(sock: socket.socket, limit: float) -> bool:
    """Send a byte every 0.1 s until the server hangs up (True) or `limit` seconds pass (False)."""
    started = time.monotonic()
    sock.settimeout(0.01)
    while time.monotonic() - started < limit:
        try:
            sock.sendall(b"X")
            if sock.recv(1) == b"":
                return True
        except TimeoutError:
            time.sleep(0.1)
        except OSError:  # reset: the server closed while we were sending
            return True
    return False


def get(port: int, path: str = "/healthz") -> bytes:
    with connect(port) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return sock.makefile("rb").read()


def answered_once_freed(port: int) -> bytes:
    """What a GET answers once the server has noticed closed connections and freed their places in the cap
    (until then a new connection is itself surplus, closed unanswered)."""
    deadline = time.monotonic() + GRACE
    while not (answer := get(port)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return answer


def test_a_connection_that_never_sends_a_byte_is_closed_after_the_idle_timeout(agent_port: int) -> None:
    with connect(agent_port) as sock:
        assert closed_after(sock) < SHORT.keep_alive + GRACE


def test_an_idle_keep_alive_connection_is_closed_after_its_answer(agent_port: int) -> None:
    with connect(agent_port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        assert closed_after(sock) < SHORT.keep_alive + GRACE


def test_headers_sent_a_byte_at_a_time_are_cut_off_at_the_request_deadline(agent_port: int) -> None:
    with connect(agent_port) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        assert trickled_until_closed(sock, SHORT.request_timeout + GRACE)


def test_connections_past_the_cap_are_closed_at_once_and_no_thread_is_spent(capped_agent_port: int) -> None:
    threads = threading.active_count()
    held = [connect(capped_agent_port) for _ in range(CAPPED.max_connections)]
    try:
        time.sleep(0.2)
        assert threading.active_count() == threads  # idle sockets sit in the event loop
        with connect(capped_agent_port) as surplus:
            assert closed_after(surplus) < GRACE  # long before any timeout: the cap closed it
    finally:
        for sock in held:
            sock.close()
    assert answered_once_freed(capped_agent_port).startswith(b"HTTP/1.1 200 ")


def test_a_flood_of_the_extenders_metrics_port_leaves_the_webhook_answering(catalog: Catalog) -> None:
    cache = ReportCache(None)
    cache.replace([])
    running = LiveExtender(Extender.assemble(cache, catalog)).start()
    flood = [connect(running.metrics_port) for _ in range(METRICS_LIMITS.max_connections + 20)]
    try:
        with connect(running.metrics_port) as surplus:
            assert closed_after(surplus) < GRACE  # its idle timeout is 120 s: the cap closed it
        assert get(running.port).startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in flood:
            sock.close()
        running.stop()


@pytest.mark.parametrize(
    "limits", [AGENT_LIMITS, METRICS_LIMITS, AUDIT_LIMITS], ids=["agent", "ext", "audit"]
)
def test_every_metrics_port_has_finite_documented_limits(limits: Limits) -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "hardening.md").read_text()
    assert f"{limits.keep_alive:g} s idle" in doc
    assert f"{limits.request_timeout:g} s to send a request" in doc
    assert f"{limits.max_connections} connections" in doc
