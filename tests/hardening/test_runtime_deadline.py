"""A host whose files never answer (a stalled network or FUSE mount) cannot stall the diagnosis: the runtime
probe gives up at its deadline, names the read in flight, and reads nothing more afterwards."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from msgspec import UNSET

from nimdoctor.catalog import Catalog
from nimdoctor.diagnose import Sources, diagnose, exit_code
from nimdoctor.probes.hostfs import DirFS
from nimdoctor.probes.runtime import probe_runtime
from nimdoctor.report import Status
from tests.hosts import HostTree, Proc, host_tree, limits_text


class StalledHost(DirFS):
    """A real host tree whose reads of one path block until released, as a hung mount does."""

    def __init__(self, root: Path, stalls: str) -> None:
        super().__init__(root)
        self.stalls = stalls
        self.release = threading.Event()
        self.reads_after_release: list[str] = []

    def read_bytes(self, path: str) -> bytes:
        if path == self.stalls:
            self.release.wait(30)
        elif self.release.is_set():
            self.reads_after_release.append(path)
        return super().read_bytes(path)


@pytest.fixture
def stalled(tmp_path: Path) -> Iterator[StalledHost]:
    tree: HostTree = host_tree(tmp_path)
    tree.add(Proc(pid=812, limits=limits_text(1024, 524288)))
    tree.add(Proc(pid=900, comm="kubelet"))
    host = StalledHost(tmp_path, "/proc/812/limits")
    yield host
    host.release.set()


def test_the_probe_answers_by_its_deadline_naming_the_read_in_flight(stalled: StalledHost) -> None:
    facts = probe_runtime(stalled, deadline=0.5)
    assert facts.containerd is UNSET
    assert "did not answer within 0.5 s" in str(facts.error)
    assert f"in flight: {stalled.describe('/proc/812/limits')}" in str(facts.error)


def test_after_the_deadline_the_probe_reads_nothing_more(stalled: StalledHost) -> None:
    probe_runtime(stalled, deadline=0.3)
    stalled.release.set()  # the hung read returns late
    threading.Event().wait(0.3)
    assert stalled.reads_after_release == []


def test_every_runtime_check_is_an_error_and_the_run_exits_3(stalled: StalledHost, catalog: Catalog) -> None:
    sources = Sources(host=stalled, runtime_deadline=0.3)
    report = diagnose(sources, catalog, node="n", only=["NIM-RT-001", "NIM-RT-002", "NIM-RT-003"])
    assert [f.status for f in report.findings] == [Status.ERROR] * 3
    assert exit_code(report) == 3
