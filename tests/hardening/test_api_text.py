"""Text from the API server and from objects reaches a terminal or a log line only escaped: a Status message
with a newline and escape sequences, through the real `nimdoctor run --cluster` and the agent's API layer,
and the processes' log formatter."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nimdoctor.cluster.api import ApiError, KubeApi
from nimdoctor.logs import FORMAT, SafeFormatter
from nimdoctor.sanitize import REPLACEMENT
from tests.kube import api_client, write_kubeconfig

# A name someone chose, quoted back by the API server: clears the screen, sets the clipboard, forges a line.
HOSTILE = "ngc\x1b[2J\x1b]52;c;Y3VybCBldmlsfHNo\x07\n2026-01-01 ERROR forged: all nodes lost\u202e"


class _Forbidden(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = {"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403}
        body = json.dumps({**status, "message": f'nimservices "{HOSTILE}" is forbidden'}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def forbidding_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forbidden)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def assert_inert(text: str) -> None:
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\u202e" not in text
    assert not any(line.startswith("2026-01-01 ERROR forged") for line in text.splitlines())


def test_run_cluster_prints_a_hostile_status_message_escaped(forbidding_server: str, tmp_path: Path) -> None:
    config = write_kubeconfig(tmp_path / "kubeconfig", forbidding_server)
    done = subprocess.run(
        [sys.executable, "-m", "nimdoctor", "run", "--cluster", "-A", "--kubeconfig", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert "403 Forbidden" in done.stderr
    assert REPLACEMENT in done.stderr  # the message is there, its controls replaced
    assert_inert(done.stderr)


def test_the_agents_api_errors_carry_the_status_message_escaped(forbidding_server: str) -> None:
    api = KubeApi(api_client(forbidding_server))
    with pytest.raises(ApiError) as caught:
        api.request("GET", "/api/v1/nodes/gpu-node-1")
    api.close()
    assert caught.value.status == 403
    assert caught.value.message.startswith('nimservices "ngc')
    assert_inert(str(caught.value))


def test_a_log_line_cannot_be_forged_or_carry_escapes() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter(FORMAT))
    logger = logging.getLogger("tests.hardening.api_text")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("node %s: report rejected", HOSTILE)
        try:
            raise ValueError(HOSTILE)
        except ValueError:
            logger.exception("cannot judge")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("report rejected")
    assert lines[1].endswith("cannot judge")
    assert lines[2] == "    Traceback (most recent call last):"  # a traceback keeps its lines, indented
    assert_inert(stream.getvalue())
