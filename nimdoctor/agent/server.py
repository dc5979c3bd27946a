"""One HTTP port for the agent: `/metrics` (prometheus_client's own ASGI app: content negotiation, gzip,
`name[]` filters), `/healthz` (the process answers) and `/readyz` (a probe completed recently).

Served by uvicorn in one event loop under `nimdoctor.serving`'s limits (idle and request timeouts, a cap on
connections, a normal backlog), the same as the extender's and the audit's ports: the standard library's WSGI
server it replaced kept a backlog of 5 and a thread per open socket, and never closed an idle one. The routes
are a bare ASGI callable, without starlette (docs/agent.md has the memory figures).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, make_asgi_app

from nimdoctor.serving import BackgroundServer, Limits, bind

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# Prometheus scrapes every 15 to 60 s, the kubelet probes every 10 to 20 s: one connection each, a few spare.
LIMITS = Limits(keep_alive=120.0, request_timeout=10.0, max_connections=32)


class ListenError(ValueError):
    """A `--listen` value that is not HOST:PORT, or an address the agent cannot bind."""


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT`, `[V6]:PORT` or `:PORT` (all IPv4 interfaces) as (host, port)."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ListenError(f"{value!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ListenError(f"{value!r}: write an IPv6 address in brackets, e.g. [::]:9402")
    return host or "0.0.0.0", int(port_text)


def health_app(registry: CollectorRegistry, ready: Callable[[], bool], ready_window: float) -> AsgiApp:
    """The ASGI app behind the port."""
    metrics: AsgiApp = make_asgi_app(registry)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if path == "/metrics":
            await metrics(scope, receive, send)
        elif path == "/healthz" or (path == "/readyz" and ready()):
            await _text(send, 200, "ok\n")
        elif path == "/readyz":
            await _text(send, 503, f"no probe completed in the last {ready_window:g} s\n")
        else:
            await _text(send, 404, "not found: try /metrics, /healthz or /readyz\n")

    return app


async def _text(send: Send, status: int, body: str) -> None:
    data = body.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class HttpServer:
    """The app served from a background thread; bound at construction, so a busy port fails early."""

    def __init__(self, host: str, port: int, app: AsgiApp, limits: Limits = LIMITS) -> None:
        try:
            sock = bind(host, port)
        except OSError as exc:
            raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        self._server = BackgroundServer(app, sock, limits, "nimdoctor-http")
        self.port = self._server.port

    def start(self) -> None:
        """Start answering requests."""
        self._server.start()

    def stop(self) -> None:
        """Stop answering and close the socket."""
        self._server.stop()
