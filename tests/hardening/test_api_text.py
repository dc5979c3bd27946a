"""Text from the API server and from objects reaches a terminal or a log line only escaped: a Status message
with a newline and escape sequences, through the real `nimdoctor run --cluster` and the agent's API layer,
and the processes' log formatter."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from nimdoctor.cluster.api import ApiError, KubeApi
from nimdoctor.logs import FORMAT, SafeFormatter
from nimdoctor.sanitize import REPLACEMENT
from tests.hardening.api_servers import answering, nimdoctor
from tests.kube import api_client, write_kubeconfig

# A name someone chose, quoted back by the API server: clears the screen, sets the clipboard, forges a line.
HOSTILE = "ngc\x1b[2J\x1b]52;c;Y3VybCBldmlsfHNo\x07\n2026-01-01 ERROR forged: all nodes lost\u202e"


@pytest.fixture
def forbidding_server() -> Iterator[str]:
    """An API server that refuses every request with a Status quoting the hostile name back."""
    status = {"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403}
    with answering(403, {**status, "message": f'nimservices "{HOSTILE}" is forbidden'}) as url:
        yield url


def assert_inert(text: str) -> None:
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\u202e" not in text
    assert not any(line.startswith("2026-01-01 ERROR forged") for line in text.splitlines())


def test_run_cluster_prints_a_hostile_status_message_escaped(forbidding_server: str, tmp_path: Path) -> None:
    config = write_kubeconfig(tmp_path / "kubeconfig", forbidding_server)
    done = nimdoctor("run", "--cluster", "-A", "--kubeconfig", str(config))
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
