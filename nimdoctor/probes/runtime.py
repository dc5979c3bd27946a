"""containerd's open-file limits: what the running daemon has, and what systemd is configured to give it.

Read from the host's `/proc` (in the agent pod, the host's `/proc` mounted at `/host/proc`, without
`hostPID`). psutil's `rlimit()` is no use here: it asks the kernel about a pid in the caller's own pid
namespace and ignores a different proc root, so the limits are parsed from `/proc/<pid>/limits`.
"""

from __future__ import annotations

import re

from msgspec import UNSET, UnsetType

from nimdoctor.probes.hostfs import HostFS
from nimdoctor.report import ContainerdCandidate, ContainerdFacts, NofileSetting, RuntimeFacts

DAEMON_COMM = "containerd"
UNIT = "containerd.service"
# systemd's unit search path, highest precedence first.
UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)
_OPEN_FILES = re.compile(r"^Max open files\s+(\S+)\s+(\S+)", re.MULTILINE)
_SECTION = re.compile(r"^\[(.+)\]\s*$")


def parse_limit(value: str) -> int | None:
    """One `/proc/<pid>/limits` value: an integer, or `None` for `unlimited`."""
    if value == "unlimited":
        return None
    if not value.isdigit():
        raise ValueError(f"not a number or 'unlimited': {value!r}")
    return int(value)


def parse_open_files(limits_text: str) -> tuple[int | None, int | None]:
    """Soft and hard "Max open files" from the text of `/proc/<pid>/limits`."""
    match = _OPEN_FILES.search(limits_text)
    if match is None:
        raise ValueError("no 'Max open files' line")
    return parse_limit(match.group(1)), parse_limit(match.group(2))


def parse_limit_nofile(value: str, source: str) -> NofileSetting | None:
    """A `LimitNOFILE=` value (`N`, `soft:hard`, `infinity`); `None` for an empty reset."""
    value = value.strip()
    if not value:
        return None
    soft_text, _, hard_text = value.partition(":")
    soft = _systemd_bound(soft_text)
    hard = _systemd_bound(hard_text) if hard_text else soft
    return NofileSetting(soft=soft, hard=hard, raw=value, source=source)


def _systemd_bound(text: str) -> int | None:
    text = text.strip()
    if text == "infinity":
        return None
    if not text.isdigit():
        raise ValueError(f"LimitNOFILE value {text!r} is neither a number nor 'infinity'")
    return int(text)


def probe_runtime(fs: HostFS) -> RuntimeFacts:
    """Find the containerd daemon under `/proc`, read its limits and the configured `LimitNOFILE`."""
    proc_root = fs.describe("/proc")
    configured, unit_files, config_error = read_configured_nofile(fs)
    nr_open = _read_nr_open(fs)
    try:
        entries = fs.listdir("/proc")
    except OSError as exc:
        return RuntimeFacts(
            proc_root=proc_root,
            configured_nofile=configured,
            unit_files=unit_files,
            nr_open=nr_open,
            config_error=config_error or UNSET,
            error=f"cannot list {proc_root}: {exc.strerror or exc}",
        )
    candidates = _find_candidates(fs, entries)
    daemon = choose_daemon(candidates)
    return RuntimeFacts(
        proc_root=proc_root,
        containerd=_read_daemon(fs, daemon.pid) if daemon else UNSET,
        candidates=candidates,
        configured_nofile=configured,
        unit_files=unit_files,
        nr_open=nr_open,
        config_error=config_error or UNSET,
    )


def _find_candidates(fs: HostFS, entries: list[str]) -> list[ContainerdCandidate]:
    candidates = []
    for name in sorted((e for e in entries if e.isdigit()), key=int):
        try:
            comm = fs.read_text(f"/proc/{name}/comm").rstrip("\n")
        except OSError:
            continue  # the process exited, or its directory is not readable
        if comm != DAEMON_COMM:
            continue
        ppid, start = _read_stat(fs, name)
        candidates.append(ContainerdCandidate(pid=int(name), ppid=ppid, start_ticks=start))
    return candidates


def _read_stat(fs: HostFS, pid: str) -> tuple[int | None, int | None]:
    """Parent pid and start time (clock ticks after boot); `None`s when `stat` is absent or odd."""
    try:
        stat = fs.read_text(f"/proc/{pid}/stat")
    except OSError:
        return None, None
    # The command name may itself hold spaces or parentheses: the fields follow the last ')'.
    fields = stat.rpartition(")")[2].split()
    try:
        return int(fields[1]), int(fields[19])
    except (IndexError, ValueError):
        return None, None


def choose_daemon(candidates: list[ContainerdCandidate]) -> ContainerdCandidate | None:
    """The daemon among processes named `containerd`: not a child of another one, oldest first."""
    if not candidates:
        return None
    pids = {c.pid for c in candidates}
    roots = [c for c in candidates if c.ppid not in pids] or candidates
    return min(roots, key=lambda c: (c.start_ticks is None, c.start_ticks or 0, c.pid))


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
        return int(fs.read_text("/proc/sys/fs/nr_open").strip())
    except (OSError, ValueError):
        return UNSET


def read_configured_nofile(fs: HostFS) -> tuple[NofileSetting | UnsetType, list[str], str]:
    """`LimitNOFILE` as systemd applies it to containerd.service: unit file, then drop-ins, last wins.

    Returns the setting (`UNSET` when nothing sets it), the files read in order, and an error text
    (empty when none) for a value systemd itself would reject.
    """
    files = _unit_and_dropins(fs)
    setting: NofileSetting | None = None
    errors: list[str] = []
    for path in files:
        try:
            text = fs.read_text(path)
        except OSError as exc:
            errors.append(f"{fs.describe(path)}: unreadable: {exc.strerror or exc}")
            continue
        for value in _service_assignments(text, "LimitNOFILE"):
            try:
                setting = parse_limit_nofile(value, fs.describe(path))
            except ValueError as exc:
                errors.append(f"{fs.describe(path)}: {exc}")
    result: NofileSetting | UnsetType = setting if setting is not None else UNSET
    return result, [fs.describe(p) for p in files], "; ".join(errors)


def _unit_and_dropins(fs: HostFS) -> list[str]:
    unit = next((f"{d}/{UNIT}" for d in UNIT_DIRS if _exists(fs, d, UNIT)), None)
    dropins: dict[str, str] = {}
    for directory in reversed(UNIT_DIRS):  # a higher-precedence file masks a same-named lower one
        dropin_dir = f"{directory}/{UNIT}.d"
        try:
            names = fs.listdir(dropin_dir)
        except OSError:
            continue
        for name in names:
            if name.endswith(".conf"):
                dropins[name] = f"{dropin_dir}/{name}"
    ordered = [dropins[name] for name in sorted(dropins)]
    return ([unit] if unit else []) + ordered


def _exists(fs: HostFS, directory: str, name: str) -> bool:
    try:
        return name in fs.listdir(directory)
    except OSError:
        return False


def _service_assignments(text: str, key: str) -> list[str]:
    """Values assigned to `key` in the `[Service]` section, in order."""
    values = []
    section = ""
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = _SECTION.match(line)
        if header:
            section = header.group(1)
            continue
        name, sep, value = line.partition("=")
        if sep and section == "Service" and name.strip() == key:
            values.append(value)
    return values
