"""The audit's HTTP endpoints: GET /metrics, /healthz (the loop is alive), /readyz (a cycle completed)."""

from __future__ import annotations

from typing import Any

from nimdoctor.serving import BackgroundServer, Limits, bind
from nimdoctor.workloads.audit import AuditCollector, Auditor

# Prometheus and the kubelet's probes are the only clients.
LIMITS = Limits(keep_alive=120.0, request_timeout=10.0, max_connections=32)


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
    """The app on `host:port` under `LIMITS`, from a background thread (signals stay with the main thread's
    loop)."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        """Bind now; raises `OSError` when the address is taken or invalid."""
        self.server = BackgroundServer(app, bind(host, port), LIMITS, "audit-http")

    def start(self, timeout: float = 10.0) -> None:
        """Start serving; raises `OSError` when it does not start."""
        self.server.start(timeout)

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.stop()
