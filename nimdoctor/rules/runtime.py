"""Rules on containerd's open-file limits (`NIM-RT-*`)."""

from __future__ import annotations

import posixpath
from typing import Any

import msgspec
from msgspec import UNSET

from nimdoctor.catalog import Check
from nimdoctor.report import ContainerdFacts, Facts, Finding, RuntimeFacts, Status
from nimdoctor.rules.registry import finding, node_rule

# systemd maps LimitNOFILE=infinity to fs.nr_open; this is the kernel's default for it.
NR_OPEN_DEFAULT = 1048576


def limit_text(value: int | None) -> str:
    """A limit as people write it."""
    return "unlimited" if value is None else str(value)


def _daemon(facts: Facts) -> tuple[RuntimeFacts | None, ContainerdFacts | None]:
    runtime = facts.runtime if facts.runtime is not UNSET else None
    if runtime is None or runtime.containerd is UNSET:
        return runtime, None
    return runtime, runtime.containerd


def _candidates(runtime: RuntimeFacts) -> list[Any]:
    return [msgspec.to_builtins(c) for c in runtime.candidates]


@node_rule("NIM-RT-001", "runtime")
def containerd_nofile(facts: Facts, check: Check) -> Finding:
    """containerd's soft open-file limit is at least `minNofile`."""
    runtime, daemon = _daemon(facts)
    required = int(check.params["minNofile"])
    if runtime is None or daemon is None:
        return finding(check, Status.SKIP, "containerd not found; see NIM-RT-003")
    evidence: dict[str, Any] = {"pid": daemon.pid, "source": daemon.source}
    evidence["candidates"] = _candidates(runtime)
    if daemon.nofile_soft is UNSET or daemon.nofile_hard is UNSET:
        reason = daemon.limits_error or "limits unknown"
        return finding(
            check,
            Status.ERROR,
            f"cannot read containerd's limits ({daemon.source}): {reason}",
            evidence,
        )
    soft, hard = daemon.nofile_soft, daemon.nofile_hard
    evidence.update(nofileSoft=soft, nofileHard=hard, required=required)
    current = f"soft {limit_text(soft)} / hard {limit_text(hard)}"
    if soft is None or soft >= required:
        return finding(check, Status.PASS, f"containerd (pid {daemon.pid}) open files: {current}", evidence)
    hard_note = ""
    if hard is None or hard >= required:
        hard_note = (
            f"\nThe hard limit is already {limit_text(hard)}: a container whose entrypoint runs"
            " `ulimit -n $(ulimit -Hn)` can raise its own soft limit, if you control the image."
        )
    dropin = str(check.params["dropIn"])
    return finding(
        check,
        Status.FAIL,
        f"containerd (pid {daemon.pid}) open files: {current}; NIM needs a soft limit of at least {required}",
        evidence,
        current=limit_text(soft),
        required=required,
        dropin=dropin,
        dropin_dir=posixpath.dirname(dropin),
        hard_note=hard_note,
    )


def _matches(configured: int | None, running: int | None, nr_open: int | None) -> bool:
    if configured is not None:
        return configured == running
    # infinity: the kernel caps RLIMIT_NOFILE at fs.nr_open, which /proc then shows as a number.
    return running is None or running == (nr_open or NR_OPEN_DEFAULT)


@node_rule("NIM-RT-002", "runtime")
def containerd_nofile_applied(facts: Facts, check: Check) -> Finding:
    """The `LimitNOFILE` that systemd is configured with is what the running daemon has."""
    runtime, daemon = _daemon(facts)
    if runtime is None or daemon is None:
        return finding(check, Status.SKIP, "containerd not found; see NIM-RT-003")
    evidence: dict[str, Any] = {"unitFiles": runtime.unit_files}
    if runtime.config_error is not UNSET:
        evidence["configError"] = runtime.config_error
    configured = runtime.configured_nofile
    if configured is UNSET:
        where = (
            "in " + ", ".join(runtime.unit_files) if runtime.unit_files else "(no containerd unit file found)"
        )
        return finding(
            check,
            Status.SKIP,
            f"no LimitNOFILE configured {where}; systemd's default applies",
            evidence,
        )
    if daemon.nofile_soft is UNSET or daemon.nofile_hard is UNSET:
        return finding(check, Status.SKIP, "running limits unknown; see NIM-RT-001", evidence)
    nr_open = runtime.nr_open if runtime.nr_open is not UNSET else None
    running = f"{limit_text(daemon.nofile_soft)}:{limit_text(daemon.nofile_hard)}"
    evidence.update(
        configured=configured.raw, configSource=configured.source, running=running, pid=daemon.pid
    )
    applied = _matches(configured.soft, daemon.nofile_soft, nr_open) and _matches(
        configured.hard, daemon.nofile_hard, nr_open
    )
    if applied:
        return finding(
            check,
            Status.PASS,
            f"LimitNOFILE={configured.raw} ({configured.source}) is in effect",
            evidence,
        )
    return finding(
        check,
        Status.WARN,
        f"LimitNOFILE={configured.raw} is configured but containerd (pid {daemon.pid}) runs with {running}",
        evidence,
        configured=configured.raw,
        config_source=configured.source,
        pid=daemon.pid,
        running=running,
    )


@node_rule("NIM-RT-003", "runtime")
def containerd_found(facts: Facts, check: Check) -> Finding:
    """A process named `containerd` is visible under the host's `/proc`."""
    runtime, daemon = _daemon(facts)
    if runtime is None:
        return finding(check, Status.SKIP, "the runtime probe did not run")
    evidence: dict[str, Any] = {"procRoot": runtime.proc_root, "candidates": _candidates(runtime)}
    if daemon is not None:
        others = len(runtime.candidates) - 1
        extra = f" ({others} other containerd-named process(es) ignored)" if others else ""
        return finding(check, Status.PASS, f"containerd daemon is pid {daemon.pid}{extra}", evidence)
    if runtime.error is not UNSET:
        message = f"host /proc is not readable: {runtime.error}"
    else:
        message = (
            f"no process named containerd under {runtime.proc_root}: not a containerd node, "
            "or the host's /proc is not mounted there"
        )
    return finding(check, Status.SKIP, message, evidence)
