"""Build fixture host roots: a fake `/proc` with processes and systemd unit files under a directory, and
the hostile things a node can hold (FIFOs, device nodes, symbolic links out of the tree, huge files)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
# A real /proc/<pid>/limits (tests/fixtures/proc-pid-limits_sample.source.txt); tests swap the open-files row.
LIMITS_SAMPLE = (FIXTURES / "proc-pid-limits_sample.txt").read_text()
OPEN_FILES_ROW = "Max open files            20000                20000                files     "


def limits_text(soft: str | int, hard: str | int) -> str:
    """The real sample's text with its "Max open files" row set to these values, columns kept aligned."""
    row = f"{'Max open files':<26}{soft!s:<21}{hard!s:<21}{'files':<10}"
    assert OPEN_FILES_ROW in LIMITS_SAMPLE
    return LIMITS_SAMPLE.replace(OPEN_FILES_ROW, row)


def stat_text(pid: int, comm: str, ppid: int, start_ticks: int) -> str:
    """A `/proc/<pid>/stat` line with the fields the probe reads (ppid, starttime) in place."""
    fields = ["S", str(ppid)] + ["0"] * 17 + [str(start_ticks)] + ["0"] * 30
    return f"{pid} ({comm}) " + " ".join(fields) + "\n"


@dataclass
class Proc:
    """A fixture process: only the files given are written (a process dir may hold only comm and limits)."""

    pid: int
    comm: str = "containerd"
    limits: str | None = None
    ppid: int | None = 1
    start_ticks: int | None = 100
    cgroup: str | None = None  # the text of /proc/<pid>/cgroup, e.g. "0::/system.slice/containerd.service\n"


@dataclass
class HostTree:
    """A host root under a temporary directory."""

    root: Path
    procs: list[Proc] = field(default_factory=list)

    def add(self, proc: Proc) -> HostTree:
        """Write a process directory."""
        d = self.root / "proc" / str(proc.pid)
        d.mkdir(parents=True, exist_ok=True)
        (d / "comm").write_text(proc.comm + "\n")
        if proc.limits is not None:
            (d / "limits").write_text(proc.limits)
        if proc.ppid is not None and proc.start_ticks is not None:
            (d / "stat").write_text(stat_text(proc.pid, proc.comm, proc.ppid, proc.start_ticks))
        if proc.cgroup is not None:
            (d / "cgroup").write_text(proc.cgroup)
        self.procs.append(proc)
        return self

    def path(self, path: str) -> Path:
        """Where a host path lies in the tree (its directory created)."""
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def file(self, path: str, text: str | bytes) -> HostTree:
        """Write a host file (e.g. a unit file) at an absolute host path."""
        target = self.path(path)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text)
        return self

    def symlink(self, path: str, target: str | Path) -> HostTree:
        """A symbolic link at a host path; an absolute target means the host's root, as on the host."""
        os.symlink(target, self.path(path))
        return self

    def fifo(self, path: str) -> HostTree:
        """A named pipe nobody writes to: opening it for reading would block for ever."""
        os.mkfifo(self.path(path))
        return self

    def sparse(self, path: str, size: int) -> HostTree:
        """A file of `size` bytes that takes no disk space (reads as zeros)."""
        with self.path(path).open("wb") as f:
            f.truncate(size)
        return self

    def device(self, path: str, major: int, minor: int) -> HostTree:
        """A character device node (needs root: see `needs_root`)."""
        os.mknod(self.path(path), 0o666 | 0o020000, os.makedev(major, minor))
        return self


def host_tree(tmp_path: Path) -> HostTree:
    """An empty host root with a `/proc`."""
    (tmp_path / "proc").mkdir(parents=True, exist_ok=True)
    return HostTree(root=tmp_path)


needs_root = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="needs root: device nodes need CAP_MKNOD, and an unreadable file needs a user other than root "
    "to read it (root reads any file); CI runs the tests as root",
)
