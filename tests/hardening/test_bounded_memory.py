"""Reads are bounded: under an address-space limit (RLIMIT_AS) that an unbounded read of the input would
break, nimdoctor meets 8 GiB host files, overlays, machine files and captures with a short error."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hardening.conftest import RT_ONLY, run_process
from tests.hosts import HostTree, Proc

HUGE = 8 << 30  # sparse: no disk space taken
MEMORY_CAP = 512 << 20


def capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_capped(*args: str) -> subprocess.CompletedProcess[str]:
    return run_process(*args, preexec_fn=capped)


def test_the_cap_is_low_enough_that_reading_the_whole_file_fails(tmp_path: Path) -> None:
    huge = tmp_path / "huge"
    with huge.open("wb") as f:
        f.truncate(HUGE)
    done = subprocess.run(
        [sys.executable, "-c", f"open({str(huge)!r}, 'rb').read()"],
        preexec_fn=capped,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "MemoryError" in done.stderr


def test_huge_host_files(tree: HostTree) -> None:
    tree.add(Proc(pid=812, limits=None, cgroup="0::/system.slice/containerd.service\n"))
    tree.sparse("/proc/812/limits", HUGE).sparse("/proc/sys/fs/nr_open", HUGE)
    tree.sparse("/etc/systemd/system/containerd.service.d/override.conf", HUGE)
    tree.sparse("/proc/900/comm", HUGE)
    done = run_capped("run", "--host-root", str(tree.root), *RT_ONLY)
    assert done.returncode == 3, done.stderr
    assert done.stderr == ""
    assert "larger than 4 MiB" in done.stdout


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("site.yaml", ("checks", "--checks-dir", "{dir}")),
        ("machine.yaml", ("run", "--machine", "{file}")),
        ("topo.txt", ("machine", "import", "--topo", "{file}")),
    ],
)
def test_huge_operator_files(tmp_path: Path, name: str, args: tuple[str, ...]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    with (folder / name).open("wb") as f:
        f.truncate(HUGE)
    done = run_capped(*(a.format(dir=folder, file=folder / name) for a in args))
    assert done.returncode == 2, done.stderr
    assert "larger than" in done.stderr
    assert len(done.stderr.splitlines()) == 1
