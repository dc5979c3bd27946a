"""An extender served for real (uvicorn, loopback ports) from a background thread, and a keep-alive client.

The same `Extender.servers` the command runs, minus the signal handling that only the main thread may do.
Reports come from `tests/placement/nodes.MACHINES` (the simulated machines' capabilities) unless a test
fills the cache itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

from nimdoctor.catalog import Catalog
from nimdoctor.cluster.nodereport import NodeRecord
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.run import Extender
from nimdoctor.extender.serve import Address
from nimdoctor.report import Capabilities
from tests.placement import nodes


def record(node: str, capabilities: Capabilities, heartbeat: dt.datetime | None = None) -> NodeRecord:
    """A node's report as the cache holds it."""
    now = heartbeat or dt.datetime.now(dt.UTC)
    return NodeRecord(
        node=node,
        capabilities=capabilities,
        ready=capabilities.ready,
        failing=(),
        observed_at=now,
        heartbeat_at=now,
    )


def machine_records() -> list[NodeRecord]:
    """One node per simulated machine, named after it."""
    return [record(name, caps) for name, caps in nodes.MACHINES.items()]


def _bind() -> socket.socket:
    return Address("127.0.0.1", 0).bind()


class Client:
    """One keep-alive HTTP/1.1 connection, as kube-scheduler's transport keeps one; reconnects when the
    server closes it (after a 413)."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port = port
        self.timeout = timeout
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.connects = 1

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Send one request; returns status and body."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                if response.getheader("connection", "").lower() == "close":
                    self._reconnect()
                return response.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                if attempt == 2:
                    raise
                self._reconnect()
        raise AssertionError("unreachable")

    def post(self, path: str, payload: Any) -> tuple[int, bytes]:
        """POST `payload` (JSON-encoded unless already bytes)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.request("POST", path, body)

    def get(self, path: str) -> tuple[int, bytes]:
        """GET `path`."""
        return self.request("GET", path)

    def _reconnect(self) -> None:
        self.connection.close()
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        self.connects += 1

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LiveExtender:
    """`extender`'s webhook and metrics apps on two loopback ports, served from a thread."""

    def __init__(self, extender: Extender) -> None:
        self.extender = extender
        listen, metrics = _bind(), _bind()
        self.port = listen.getsockname()[1]
        self.metrics_port = metrics.getsockname()[1]
        self.servers = extender.servers(listen, metrics, None)
        self._thread = threading.Thread(target=lambda: asyncio.run(self.servers.run()), daemon=True)

    def start(self) -> LiveExtender:
        """Serve, and return once both servers accept connections."""
        self.extender.start_watches()
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.servers.started:
            if time.monotonic() > deadline:
                raise TimeoutError("the extender did not start")
            time.sleep(0.01)
        return self

    def client(self) -> Client:
        """A keep-alive client of the webhook."""
        return Client(self.port)

    def stop(self) -> None:
        """Stop serving (and the watch)."""
        self.servers.stop()
        self._thread.join(10)
        self.extender.stop_watches()


def live(
    catalog: Catalog,
    records: Iterable[NodeRecord] | None = None,
    *,
    stale_after: float | None = None,
    admit_missing: bool = False,
    max_body: int | None = None,
) -> LiveExtender:
    """An extender over `records` (default: the simulated machines), not yet started."""
    cache = ReportCache(stale_after)
    cache.replace(machine_records() if records is None else records)
    options: dict[str, Any] = {"admit_missing": admit_missing}
    if max_body is not None:
        options["max_body"] = max_body
    return LiveExtender(Extender.assemble(cache, catalog, **options))
