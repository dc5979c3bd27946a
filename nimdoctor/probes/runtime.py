"""containerd's open-file limits: what the running daemon has, and what systemd is configured to give it.

Read from the host's `/proc` (in the agent pod, the host's `/proc` mounted at `/host/proc`, without
`hostPID`). psutil's `rlimit()` is no use here: it asks the kernel about a pid in the caller's own pid
namespace and ignores a different proc root, so the limits are parsed from `/proc/<pid>/limits`.

Any process may call itself `containerd`: a pod may run its own (kind, Docker-in-Docker), and anything may
take the name. The daemon is the one whose cgroup puts it in the node's `containerd.service` (else in
another node service whose unit file the host has, such as `k3s.service`), else a child of pid 1, else
the oldest; candidates that rule cannot tell apart are listed as `ambiguous`. Its unit is the one whose
`LimitNOFILE` is read (`nimdoctor.probes.systemd`).

The whole probe runs under a deadline (`nimdoctor.probes.deadline`), so a host file that blocks cannot
stall the diagnosis.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from msgspec import UNSET, UnsetType

from nimdoctor.probes.deadline import DeadlineExceeded, run_with_deadline
from nimdoctor.probes.hostfs import HostFS
from nimdoctor.probes.systemd import (
    UNIT_DIRS,
    UncertainValueError,
    UnitSyntaxError,
    find_unit_files,
    parse_rlimit,
    read_unit,
)
from nimdoctor.report import (
    ContainerdCandidate,
    ContainerdFacts,
    IgnoredSetting,
    NofileSetting,
    RuntimeFacts,
)

DAEMON_COMM = "containerd"
UNIT = "containerd.service"
PID_MAX_LIMIT = 1 << 22  # the kernel's largest pid_max
ULONG_MAX = (1 << 64) - 1
NR_OPEN_MAX = (1 << 31) - 1  # fs.nr_open cannot exceed INT_MAX
DEADLINE = 10.0
_OPEN_FILES = re.compile(r"^Max open files[ \t]+(\S+)[ \t]+(\S+)", re.MULTILINE)
_UINT = re.compile(r"[0-9]{1,20}", re.ASCII)
_PID = re.compile(r"[1-9][0-9]{0,6}", re.ASCII)


def parse_uint(text: str, maximum: int = ULONG_MAX) -> int:
    """A decimal number as the kernel writes it (ASCII digits, at most `maximum`); `ValueError` otherwise."""
    if not _UINT.fullmatch(text) or int(text) > maximum:
        raise ValueError(f"not a number the kernel writes: {text[:40]!r}")
    return int(text)


def parse_limit(value: str) -> int | None:
    """One `/proc/<pid>/limits` value: an integer, or `None` for `unlimited`."""
    if value == "unlimited":
        return None
    try:
        return parse_uint(value)
    except ValueError:
        raise ValueError(f"not a number or 'unlimited': {value[:40]!r}") from None


def parse_open_files(limits_text: str) -> tuple[int | None, int | None]:
    """Soft and hard "Max open files" from the text of `/proc/<pid>/limits`."""
    match = _OPEN_FILES.search(limits_text)
    if match is None:
        raise ValueError("no 'Max open files' line")
    soft, hard = parse_limit(match.group(1)), parse_limit(match.group(2))
    if hard is not None and (soft is None or soft > hard):
        raise ValueError("the soft limit is above the hard limit, which the kernel never allows")
    return soft, hard


class _Cancelled(Exception):
    """The deadline passed: the probe reads nothing more."""


class _Watched:
    """A `HostFS` that remembers the path being read and refuses to read once the caller gave up."""

    def __init__(self, fs: HostFS) -> None:
        self.fs = fs
        self.in_flight: str | None = None
        self.cancelled = threading.Event()

    def _start(self, path: str) -> None:
        if self.cancelled.is_set():
            raise _Cancelled
        self.in_flight = self.fs.describe(path)

    def read_bytes(self, path: str) -> bytes:
        self._start(path)
        data = self.fs.read_bytes(path)
        self.in_flight = None
        return data

    def read_text(self, path: str) -> str:
        self._start(path)
        text = self.fs.read_text(path)
        self.in_flight = None
        return text

    def listdir(self, path: str) -> list[str]:
        self._start(path)
        names = self.fs.listdir(path)
        self.in_flight = None
        return names

    def describe(self, path: str) -> str:
        return self.fs.describe(path)


def probe_runtime(fs: HostFS, *, deadline: float = DEADLINE) -> RuntimeFacts:
    """The containerd daemon under `/proc`, its limits and its unit's `LimitNOFILE`, read by `deadline`."""
    watched = _Watched(fs)
    try:
        return run_with_deadline(lambda: _probe(watched), deadline, name="nimdoctor-runtime-probe")
    except DeadlineExceeded:
        watched.cancelled.set()
        return RuntimeFacts(
            proc_root=fs.describe("/proc"),
            error=f"the host's files did not answer within {deadline:g} s; "
            f"in flight: {watched.in_flight or 'between reads'}",
        )


def _probe(fs: HostFS) -> RuntimeFacts:
    proc_root = fs.describe("/proc")
    hint = f"is the host's /proc mounted at {proc_root}?"
    try:
        entries = fs.listdir("/proc")
    except OSError as exc:
        return RuntimeFacts(
            proc_root=proc_root, error=f"cannot list {proc_root}: {exc.strerror or exc}; {hint}"
        )
    pids = sorted(int(e) for e in entries if _PID.fullmatch(e) and int(e) <= PID_MAX_LIMIT)
    if not pids:
        return RuntimeFacts(proc_root=proc_root, error=f"no processes under {proc_root}; {hint}")
    candidates = _find_candidates(fs, pids)
    daemon, chosen_by, ambiguous = choose_daemon(candidates, _known_units(fs, candidates))
    unit = daemon.unit if daemon is not None and daemon.unit else UNIT
    config = read_configured_nofile(fs, unit)
    return RuntimeFacts(
        proc_root=proc_root,
        containerd=_read_daemon(fs, daemon.pid) if daemon else UNSET,
        candidates=candidates,
        chosen_by=chosen_by or UNSET,
        ambiguous=ambiguous,
        unit=unit,
        configured_nofile=config.setting or UNSET,
        unit_files=config.files,
        nr_open=_read_nr_open(fs),
        config_error="; ".join(config.errors) or UNSET,
        ignored_nofile=config.ignored or UNSET,
        config_notes=config.notes,
    )


def _find_candidates(fs: HostFS, pids: list[int]) -> list[ContainerdCandidate]:
    candidates = []
    for pid in pids:
        try:
            comm = fs.read_text(f"/proc/{pid}/comm").rstrip("\n")
        except OSError:
            continue  # the process exited, or its directory is not readable
        if comm != DAEMON_COMM:
            continue
        ppid, start = _read_stat(fs, pid)
        candidates.append(
            ContainerdCandidate(pid=pid, ppid=ppid, start_ticks=start, unit=_read_service(fs, pid))
        )
    return candidates


def _read_stat(fs: HostFS, pid: int) -> tuple[int | None, int | None]:
    """Parent pid and start time (clock ticks after boot); `None`s when `stat` is absent or odd."""
    try:
        stat = fs.read_text(f"/proc/{pid}/stat")
    except OSError:
        return None, None
    # The command name may itself hold spaces or parentheses: the fields follow the last ')'.
    fields = stat.rpartition(")")[2].split()
    try:
        return parse_uint(fields[1], PID_MAX_LIMIT), parse_uint(fields[19])
    except (IndexError, ValueError):
        return None, None


def _read_service(fs: HostFS, pid: int) -> str | None:
    """The node's systemd service the process runs in, from `/proc/<pid>/cgroup`; `None` if none.

    The path is relative to the reader's cgroup namespace (`/../../system.slice/containerd.service` in a
    pod), so `..` is dropped. The service counts only when nothing but slices lead to it: a containerd in a
    pod sits below a container's scope (`.../cri-containerd-<id>.scope/system.slice/containerd.service`
    for a kind node), or below `kubepods` without slices when the kubelet uses the cgroupfs driver.
    """
    try:
        text = fs.read_text(f"/proc/{pid}/cgroup")
    except OSError:
        return None
    paths: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, cgroup = rest.partition(":")
        paths[(hierarchy, controllers)] = cgroup
    path = paths.get(("0", "")) or next(
        (p for (_, c), p in paths.items() if "name=systemd" in c.split(",")), None
    )
    if path is None:
        return None
    for part in path.split("/"):
        if part in ("", "..") or part.endswith(".slice"):
            continue
        return part if part.endswith(".service") else None
    return None


def _known_units(fs: HostFS, candidates: list[ContainerdCandidate]) -> frozenset[str]:
    """The candidates' services that the host has a unit file for."""
    wanted = {c.unit for c in candidates if c.unit and c.unit != UNIT}
    known: set[str] = set()
    for directory in UNIT_DIRS if wanted else ():
        try:
            known |= wanted & set(fs.listdir(directory))
        except OSError:
            continue
    return frozenset(known)


def _rank(candidate: ContainerdCandidate, known_units: frozenset[str]) -> tuple[int, str]:
    if candidate.unit == UNIT:
        return 0, "unit"
    if candidate.unit in known_units:
        return 1, "unit"
    if candidate.ppid == 1:
        return 2, "parent"
    return 3, "age"


def choose_daemon(
    candidates: list[ContainerdCandidate], known_units: frozenset[str] = frozenset()
) -> tuple[ContainerdCandidate | None, str | None, list[int]]:
    """The daemon, the rule that chose it (`unit`, `parent`, `age`), and the candidates it could not
    tell apart from it (same rule; the oldest of those wins, then the lowest pid)."""
    if not candidates:
        return None, None, []
    ranked = sorted(
        candidates,
        key=lambda c: (_rank(c, known_units)[0], c.start_ticks is None, c.start_ticks or 0, c.pid),
    )
    best = ranked[0]
    rank, rule = _rank(best, known_units)
    ties = [c.pid for c in ranked[1:] if _rank(c, known_units)[0] == rank]
    return best, rule, ties


def _read_daemon(fs: HostFS, pid: int) -> ContainerdFacts:
    path = f"/proc/{pid}/limits"
    source = fs.describe(path)
    try:
        soft, hard = parse_open_files(fs.read_text(path))
    except OSError as exc:
        return ContainerdFacts(pid=pid, source=source, limits_error=f"unreadable: {exc.strerror or exc}")
    except ValueError as exc:
        return ContainerdFacts(pid=pid, source=source, limits_error=f"unparseable: {exc}")
    return ContainerdFacts(pid=pid, nofile_soft=soft, nofile_hard=hard, source=source)


def _read_nr_open(fs: HostFS) -> int | UnsetType:
    try:
        return parse_uint(fs.read_text("/proc/sys/fs/nr_open").strip(), NR_OPEN_MAX)
    except (OSError, ValueError):
        return UNSET


@dataclass
class NofileConfig:
    """`LimitNOFILE` as systemd applies it to a unit.

    `setting` is `None` when nothing sets it (systemd's default applies). `errors` is non-empty when the
    setting is unknown: a file that could not be read, or a value systemd versions read differently, with
    no later assignment that settles it; or a unit file systemd would not load at all. `notes` lists
    assignments systemd ignores and masked files; `ignored` is the last assignment, when systemd ignores it.
    """

    setting: NofileSetting | None = None
    ignored: IgnoredSetting | None = None
    files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_configured_nofile(fs: HostFS, unit: str = UNIT) -> NofileConfig:
    """`LimitNOFILE` for `unit`: its unit file, then its drop-ins in systemd's order; the last one wins."""
    found = find_unit_files(fs, unit)
    config = NofileConfig(errors=list(found.errors))
    paths = ([found.fragment] if found.fragment else []) + found.dropins
    config.files = [fs.describe(p) for p in paths]
    pending: list[str] = []  # doubts that a later assignment would settle
    for path in paths:
        where = fs.describe(path)
        try:
            assignments = read_unit(fs, path)
        except OSError as exc:
            pending.append(f"{where}: cannot read: {exc.strerror or exc}")
            continue
        except UnitSyntaxError as exc:
            if path == found.fragment:  # systemd does not load the unit at all
                config.errors.append(f"{where}: systemd cannot load it: {exc}")
            else:
                pending.append(f"{where}: systemd cannot parse it: {exc}")
            continue
        if assignments is None:
            config.notes.append(f"{where}: empty or /dev/null (masks a same-named lower file)")
            continue
        for item in assignments:
            if item.section != "Service" or item.key != "LimitNOFILE":
                continue
            try:
                limit = parse_rlimit(item.value)
            except UncertainValueError as exc:
                pending.append(f"{where}:{item.line}: LimitNOFILE={item.value[:40]}: {exc}")
                continue
            except ValueError as exc:
                config.ignored = IgnoredSetting(
                    raw=item.value, source=f"{where}:{item.line}", reason=str(exc)
                )
                config.notes.append(
                    f"{where}:{item.line}: systemd ignores LimitNOFILE={item.value[:40]}: {exc}"
                )
                continue
            pending.clear()
            config.ignored = None
            config.setting = (
                None
                if limit is None
                else NofileSetting(soft=limit.soft, hard=limit.hard, raw=item.value, source=where)
            )
    config.errors += pending
    return config
