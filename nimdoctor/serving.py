"""Every listening socket of nimdoctor (agent, extender webhook and metrics, audit) is served by uvicorn with
the limits uvicorn lacks: a deadline for each request to arrive, an idle timeout from the moment a connection
opens, and a cap on open connections.

uvicorn closes an idle keep-alive connection only after a response; a connection that never sends a byte,
or sends its headers a byte a minute, it keeps open forever, one file descriptor each. Here a connection is
closed when it is idle for `keep_alive` seconds (before its first request too), when a request has begun but
not fully arrived (headers and body) within `request_timeout` seconds, and at once when the server already
holds `max_connections`. One event loop serves them all, so an idle socket costs a file descriptor and a few
KB, never a thread. docs/hardening.md lists the figures and how to check them.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import threading
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

BACKLOG = socket.SOMAXCONN


@dataclass(frozen=True)
class Limits:
    """How long a connection may idle or take to send a request, and how many one server holds."""

    keep_alive: float = 120.0  # above Go's 90 s idle timeout: kube-scheduler closes first
    request_timeout: float = 30.0
    max_connections: int = 128


def protocol_class(limits: Limits) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with `limits` enforced (uvicorn takes the class as `http=`)."""

    class Guarded(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                transport.close()
                return
            # uvicorn arms its keep-alive timer only after a response: arm it for the first request too.
            self.timeout_keep_alive_task = self.loop.call_later(
                limits.keep_alive, self.timeout_keep_alive_handler
            )

        def data_received(self, data: bytes) -> None:
            # Any byte starts the clock (stray CRLFs before a request too); a complete request stops it.
            if self._deadline is None:
                self._deadline = self.loop.call_later(limits.request_timeout, self._too_slow)
            super().data_received(data)

        def on_message_complete(self) -> None:
            self._cancel_deadline()
            super().on_message_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_deadline()
            super().connection_lost(exc)

        def _cancel_deadline(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

    return Guarded


def config(app: Any, limits: Limits, **options: Any) -> uvicorn.Config:
    """A uvicorn configuration for `app` under `limits`; `options` go to `uvicorn.Config` (TLS files...)."""
    return uvicorn.Config(
        app,
        http=protocol_class(limits),
        lifespan="off",
        access_log=False,
        log_config=None,
        log_level="warning",
        server_header=False,
        backlog=BACKLOG,
        timeout_keep_alive=max(1, round(limits.keep_alive)),
        **options,
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (IPv6 when `host` has a colon); raises `OSError`. Lifts the process's soft
    open-file limit first (`raise_open_file_limit`).

    The protocol is IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without
    it Nagle's algorithm holds the body behind the headers for the client's delayed ACK (40 ms a request).
    """
    raise_open_file_limit()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def raise_open_file_limit() -> None:
    """Lift the soft open-file limit to the hard one (as Go programs do at start), so the connection caps
    bind before the process runs out of descriptors; where the system refuses, the limit stays as it was."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class BackgroundServer:
    """A uvicorn server on an already bound socket, answering from a daemon thread (signals stay with the
    main thread)."""

    def __init__(self, app: Any, sock: socket.socket, limits: Limits, name: str) -> None:
        self.sock = sock
        # The plain asyncio loop: a scrape every few seconds gains nothing from uvloop's extra megabytes.
        self.server = uvicorn.Server(config(app, limits, loop="asyncio"))
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def port(self) -> int:
        """The bound port (useful after binding port 0)."""
        return int(self.sock.getsockname()[1])

    def _run(self) -> None:
        self.server.run(sockets=[self.sock])

    def start(self, timeout: float = 10.0) -> None:
        """Start answering; raises `OSError` when the server did not start within `timeout` seconds."""
        self.thread.start()
        waited = threading.Event()
        for _ in range(int(timeout / 0.02)):
            if self.server.started or not self.thread.is_alive():
                break
            waited.wait(0.02)
        if not self.server.started:
            raise OSError("the HTTP server did not start")

    def stop(self) -> None:
        """Stop answering, close the socket and wait for the thread."""
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(10)
        self.sock.close()
