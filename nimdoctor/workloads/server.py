"""The audit's HTTP endpoints: GET /metrics, /healthz (the loop is alive), /readyz (a cycle completed)."""

from __future__ import annotations

import threading
from typing import Any

from nimdoctor.workloads.audit import AuditCollector, Auditor


def make_app(auditor: Auditor) -> Any:
    """A Starlette app serving the auditor's metrics and health."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    registry = CollectorRegistry(auto_describe=False)
    registry.register(AuditCollector(auditor))

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        ok = auditor.healthy()
        return PlainTextResponse("ok\n" if ok else "audit loop stalled\n", status_code=200 if ok else 503)

    async def readyz(request: Request) -> Response:
        ok = auditor.ready()
        return PlainTextResponse(
            "ok\n" if ok else "no audit cycle completed yet\n", status_code=200 if ok else 503
        )

    routes = [
        Route("/metrics", metrics, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    return Starlette(routes=routes)


class HttpServer:
    """uvicorn in a background thread (signals stay with the main thread's loop)."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        import uvicorn

        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="audit-http", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        """Start serving; raises `OSError` when the address cannot be bound."""
        self.thread.start()
        deadline = threading.Event()
        waited = 0.0
        while not self.server.started and self.thread.is_alive() and waited < timeout:
            deadline.wait(0.05)
            waited += 0.05
        if not self.server.started:
            raise OSError("the HTTP server did not start (address in use?)")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving and wait for the thread; `RuntimeError` when it is still running after `timeout`
        (never left to finish in the background, where its sockets would outlive the caller's cleanup)."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise RuntimeError(f"the HTTP server did not stop within {timeout:g}s")
