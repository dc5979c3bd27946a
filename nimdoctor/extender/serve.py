"""Run the webhook and the metrics socket on uvicorn, both in one process and one event loop.

The sockets are bound before serving, so a taken port is a clear error at start (and port 0 works for
tests: the bound ports are announced). uvicorn's own signal capture is per server; here one handler stops
both. Each server has its own limits (`nimdoctor.serving`): keep-alive outlives the Go client's 90 s idle
timeout, so kube-scheduler always closes an idle connection first and never posts onto one the server is
closing; a request must arrive within the webhook's body timeout; and each socket caps its own connections,
so a flood of the metrics port cannot take the webhook's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from nimdoctor.extender.app import READ_TIMEOUT
from nimdoctor.serving import Limits, bind, config

log = logging.getLogger(__name__)

SIGINT_EXIT = 130
# kube-scheduler calls the webhook once per pod and verb, over a handful of connections.
WEBHOOK_LIMITS = Limits(keep_alive=120.0, request_timeout=READ_TIMEOUT, max_connections=128)
METRICS_LIMITS = Limits(keep_alive=120.0, request_timeout=10.0, max_connections=32)


class ListenError(ValueError):
    """An address that cannot be parsed or bound."""


@dataclass(frozen=True)
class Address:
    """A `HOST:PORT` to listen on (`[::1]:8765` for IPv6)."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse `HOST:PORT`; raises `ListenError`."""
        host, sep, port = text.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ListenError(f"{text!r}: expected HOST:PORT, e.g. 127.0.0.1:8765")
        return cls(host, int(port))

    def bind(self) -> socket.socket:
        """A listening socket; raises `ListenError` naming the address."""
        try:
            return bind(self.host, self.port)
        except OSError as exc:
            raise ListenError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from exc


@dataclass(frozen=True)
class Tls:
    """The webhook's certificate and key (PEM files)."""

    cert: Path
    key: Path

    def check(self) -> None:
        """Load the pair once, so a bad file is an error at start; raises `ListenError`."""
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            raise ListenError(f"--tls-cert/--tls-key: cannot load {self.cert} and {self.key}: {exc}") from exc


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to `serve`, which stops every server at once."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(app: Any, limits: Limits, tls: Tls | None) -> _Server:
    options = {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)} if tls else {}
    return _Server(config(app, limits, **options))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # uvicorn[standard] brings it; plain asyncio works too
        return None
    return uvloop.new_event_loop


class Servers:
    """uvicorn servers, each on its bound socket under its limits, run together in one event loop."""

    def __init__(self, apps: list[tuple[Any, socket.socket, Limits, Tls | None]]) -> None:
        self._servers = [(_server(app, limits, tls), sock) for app, sock, limits, tls in apps]

    async def run(self) -> None:
        """Serve until `stop`."""
        await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in self._servers))

    def stop(self) -> None:
        """Ask every server to finish (safe from any thread: uvicorn polls the flag)."""
        for server, _ in self._servers:
            server.should_exit = True

    @property
    def started(self) -> bool:
        """Whether every server accepts connections."""
        return all(server.started for server, _ in self._servers)


def serve(servers: Servers) -> int:
    """Run `servers` in the main thread until SIGTERM or SIGINT; returns the exit code (0, or 130 after
    Ctrl-C)."""
    received: list[int] = []

    def stop(signum: int) -> None:
        received.append(signum)
        servers.stop()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop, signum)
        await servers.run()

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(main())
    return SIGINT_EXIT if signal.SIGINT in received else 0
