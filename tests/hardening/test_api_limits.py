"""Every API call has a timeout and every list an end: `nimdoctor run --cluster` and `audit --once` as real
processes against real loopback servers that misbehave the way a hung or hostile API server does."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nimdoctor.cluster.limits import MAX_ITEMS, MAX_PAGES, ListTooLong, paginate
from tests.hardening.api_servers import answering, nimdoctor
from tests.kube import write_kubeconfig


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket that accepts connections and never answers a byte."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for sock in accepted:
            sock.close()
        listener.close()


# Every page full and pointing at a next one: a list that would never end.
ENDLESS_PAGE = {
    "apiVersion": "apps.nvidia.com/v1alpha1",
    "kind": "NIMServiceList",
    "metadata": {"continue": "again", "resourceVersion": "1"},
    "items": [{"metadata": {"name": f"nim-{i}", "namespace": "default"}, "spec": {}} for i in range(500)],
}


@pytest.fixture
def endless_server() -> Iterator[str]:
    with answering(200, ENDLESS_PAGE) as url:
        yield url


@pytest.mark.parametrize("command", [["run", "--cluster", "-A"], ["audit", "--once", "-A"]])
def test_a_server_that_never_answers_is_a_clear_error_after_the_request_timeout(
    command: list[str], silent_server: str, tmp_path: Path
) -> None:
    config = write_kubeconfig(tmp_path / "kubeconfig", silent_server)
    done = nimdoctor(*command, "--kubeconfig", str(config), "--request-timeout", "1")
    assert done.returncode == 3, done.stderr
    assert "cannot reach the Kubernetes API" in done.stderr
    assert "timed out" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_endless_continue_token_stops_at_the_cap_and_says_so(endless_server: str, tmp_path: Path) -> None:
    config = write_kubeconfig(tmp_path / "kubeconfig", endless_server)
    done = nimdoctor("run", "--cluster", "-A", "--kubeconfig", str(config))
    assert done.returncode == 3, done.stderr
    assert f"the list did not end after {MAX_ITEMS // 500 + 1} pages" in done.stderr
    assert "keeps answering with a continue token" in done.stderr


def test_endless_empty_pages_stop_at_the_page_cap() -> None:
    fetched: list[str | None] = []

    def fetch(token: str | None) -> dict[str, object]:
        fetched.append(token)
        return {"items": [], "metadata": {"continue": "again"}}

    with pytest.raises(ListTooLong, match=f"after {MAX_PAGES + 1} pages and 0 items"):
        list(paginate(fetch))
    assert fetched == [None] + ["again"] * MAX_PAGES


def test_a_list_that_ends_yields_every_page_once() -> None:
    pages: list[dict[str, object]] = [
        {"items": [1, 2], "metadata": {"continue": "b"}},
        {"items": [3], "metadata": {"continue": ""}},
    ]
    tokens: list[str | None] = []

    def fetch(token: str | None) -> dict[str, object]:
        tokens.append(token)
        return pages[len(tokens) - 1]

    assert list(paginate(fetch)) == pages
    assert tokens == [None, "b"]
