"""A real Kubernetes API emulator (kmock) on loopback, for the official `kubernetes` client in sync tests.

kmock is an aiohttp server; a sync client cannot share its event loop, so the emulator runs in a daemon
thread with a loop of its own (see kmock's gaps: PATCH is a plain dict merge, no resourceVersion, create
answers 200). Tests talk to it over real HTTP at `url`, preload or read objects through `handler.objects`
(on the emulator's loop, via `call`), and read the request log through `requests()`.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import kmock
import pytest

_T = TypeVar("_T")


class Emulator:
    """A kmock `KubernetesEmulator` served on 127.0.0.1 from a background thread.

    `stop()` takes the server away (an API outage); `start(port=...)` brings it back on the same port with
    the same stored objects, because the handler outlives its servers.
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kmock", daemon=True)
        self._thread.start()
        self.handler: Any = self.call_async(self._enter_handler())
        self._server: Any = None
        self.port = 0

    async def _enter_handler(self) -> Any:
        handler = kmock.KubernetesEmulator()
        await handler.__aenter__()
        return handler

    def call_async(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the emulator's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, fn: Callable[[], _T], timeout: float = 10.0) -> _T:
        """Run `fn` on the emulator's loop (kmock's state is not thread-safe) and return its result."""

        async def run() -> _T:
            return fn()

        result: _T = self.call_async(run(), timeout)
        return result

    @property
    def url(self) -> str:
        """Base URL for `kubernetes.client.Configuration().host`."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int = 0) -> None:
        """Serve the handler on `port` (0: a free one; the last port when restarting after `stop`)."""

        async def serve() -> Any:
            server = kmock.Server(self.handler, host="127.0.0.1", port=port or None)
            await server.__aenter__()
            return server

        self._server = self.call_async(serve())
        self.port = int(self._server.port)

    def stop(self) -> None:
        """Stop serving (the stored objects stay): connections are refused until `start` again."""
        if self._server is not None:
            self.call_async(self._server.__aexit__(None, None, None))
            self._server = None

    def requests(self) -> list[Any]:
        """The request log so far (kmock `Request` objects: method, url, headers, data, subresource...)."""
        return self.call(lambda: list(self.handler))

    def close(self) -> None:
        """Stop the server, the handler and the loop thread."""
        self.stop()
        self.call_async(self.handler.__aexit__(None, None, None))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


def write_kubeconfig(path: Path, url: str, namespace: str | None = None) -> Path:
    """A kubeconfig for `url` with a user that has no credentials (the emulator asks for none), its
    context in `namespace` when given."""
    context: dict[str, str] = {"cluster": "kmock", "user": "nobody"}
    if namespace is not None:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmock", "cluster": {"server": url}}],
        "users": [{"name": "nobody", "user": {}}],
        "contexts": [{"name": "kmock", "context": context}],
        "current-context": "kmock",
    }
    path.write_text(json.dumps(config))
    return path


def api_client(url: str) -> Any:
    """An official `kubernetes` ApiClient pointed at `url` (no credentials, no retries)."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = url
    configuration.retries = False
    return client.ApiClient(configuration)


@pytest.fixture
def kube() -> Iterator[Emulator]:
    """A started emulator, closed after the test."""
    emulator = Emulator()
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.close()
