"""Build fixture host roots: a fake `/proc` with processes and systemd unit files under a directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
        self.procs.append(proc)
        return self

    def file(self, path: str, text: str) -> HostTree:
        """Write a host file (e.g. a unit file) at an absolute host path."""
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return self


def host_tree(tmp_path: Path) -> HostTree:
    """An empty host root with a `/proc`."""
    (tmp_path / "proc").mkdir(parents=True, exist_ok=True)
    return HostTree(root=tmp_path)
