"""Loopback stand-ins for a misbehaving Kubernetes API server, and the real CLI run against them."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG_GUARD = 120  # seconds before a test itself gives up on a process that hangs


@contextlib.contextmanager
def answering(status: int, document: Mapping[str, Any]) -> Iterator[str]:
    """A server that answers every GET with `status` and `document` as JSON; yields its URL."""
    body = json.dumps(document).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def nimdoctor(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a real process, bounded by `HANG_GUARD`."""
    return subprocess.run(
        [sys.executable, "-m", "nimdoctor", *args],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )
