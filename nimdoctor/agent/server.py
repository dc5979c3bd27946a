"""One HTTP port for the agent: `/metrics` (prometheus_client's own WSGI app: content negotiation, gzip,
`name[]` filters), `/healthz` (the process answers) and `/readyz` (a probe completed recently).

Served by the standard library's WSGI server with a thread per request, the way prometheus_client's own
`start_http_server` does: nothing more for a DaemonSet to load than what the metrics need already (a
starlette/uvicorn app would add its imports to every node; see docs/agent.md for the measured figures).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


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


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow scraper never holds up shutdown


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would drown the agent's own log."""


def health_app(registry: CollectorRegistry, ready: Callable[[], bool], ready_window: float) -> WsgiApp:
    """The WSGI app behind the port."""
    metrics: WsgiApp = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)
        if path == "/healthz":
            return _text(start_response, "200 OK", "ok\n")
        if path == "/readyz":
            if ready():
                return _text(start_response, "200 OK", "ok\n")
            message = f"no probe completed in the last {ready_window:g} s\n"
            return _text(start_response, "503 Service Unavailable", message)
        return _text(start_response, "404 Not Found", "not found: try /metrics, /healthz or /readyz\n")

    return app


def _text(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    data = body.encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))]
    )
    return [data]


class HttpServer:
    """The app served from a background thread; bound at construction, so a busy port fails early."""

    def __init__(self, host: str, port: int, app: WsgiApp) -> None:
        server_class = type("Server", (_Server,), {"address_family": _family(host)})
        try:
            self._server: WSGIServer = make_server(
                host, port, app, server_class=server_class, handler_class=_QuietHandler
            )
        except OSError as exc:
            raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="nimdoctor-http", daemon=True)

    def start(self) -> None:
        """Start answering requests."""
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
