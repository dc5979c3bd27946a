"""Fixtures: a live extender over the simulated machines' reports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nimdoctor.catalog import Catalog
from tests.extender.live import Client, LiveExtender, live
from tests.kube import kube  # noqa: F401  (the emulator fixture, for the watch tests)


@pytest.fixture(scope="module")
def server(catalog: Catalog) -> Iterator[LiveExtender]:
    """An extender on loopback whose cache holds one node per simulated machine, named after it."""
    running = live(catalog).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def client(server: LiveExtender) -> Iterator[Client]:
    """A keep-alive connection to `server`'s webhook."""
    connection = server.client()
    try:
        yield connection
    finally:
        connection.close()
