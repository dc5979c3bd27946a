"""Rules on containerd's open-file limits (`NIM-RT-*`)."""

from __future__ import annotations

import posixpath
from typing import Any

import msgspec
from msgspec import UNSET

from nimdoctor.catalog import Check
from nimdoctor.report import ContainerdFacts, Facts, Finding, RuntimeFacts, Status
from nimdoctor.rules.registry import finding, node_rule


def limit_text(value: int | None) -> str:
    """A limit as people write it."""
    return "unlimited" if value is None else str(value)


def _candidates(runtime: RuntimeFacts) -> dict[str, Any]:
    """Every containerd-named process, which rule chose the daemon and which it could not tell apart."""
    evidence: dict[str, Any] = {"candidates": [msgspec.to_builtins(c) for c in runtime.candidates]}
    if runtime.chosen_by is not UNSET:
        evidence["chosenBy"] = runtime.chosen_by
    if runtime.ambiguous:
        evidence["ambiguous"] = runtime.ambiguous
    return evidence


def _unreadable(facts: Facts, check: Check) -> Finding | None:
    """`skip` when the probe did not run (saying why when the machine's description does not hold the
    open-file limits), `error` when the host's /proc could not be read (or did not answer in time); `None`
    when the probe read it."""
    runtime = facts.runtime
    if runtime is UNSET:
        why = facts.unmeasured.get("openFiles") if facts.unmeasured is not UNSET else None
        return finding(check, Status.SKIP, f"unknown: {why}" if why else "the runtime probe did not run")
    if runtime.error is not UNSET:
        evidence = {"procRoot": runtime.proc_root}
        return finding(check, Status.ERROR, f"host /proc not readable: {runtime.error}", evidence)
    return None


def _daemon(facts: Facts, check: Check) -> tuple[RuntimeFacts, ContainerdFacts] | Finding:
    """The runtime facts and the daemon to judge, or the finding that says why there is none."""
    runtime = facts.runtime
    unreadable = _unreadable(facts, check)
    if unreadable is not None or runtime is UNSET:
        return unreadable or finding(check, Status.SKIP, "the runtime probe did not run")
    if runtime.containerd is UNSET:
        return finding(check, Status.SKIP, "containerd not found; see NIM-RT-003")
    return runtime, runtime.containerd


@node_rule("NIM-RT-001", "runtime")
def containerd_nofile(facts: Facts, check: Check) -> Finding:
    """containerd's soft open-file limit is at least `minNofile`."""
    required = int(check.params["minNofile"])
    subject = _daemon(facts, check)
    if isinstance(subject, Finding):
        return subject
    runtime, daemon = subject
    evidence: dict[str, Any] = {"pid": daemon.pid, "source": daemon.source, **_candidates(runtime)}
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


def _matches(configured: int | None, running: int | None, nr_open: int | None) -> bool | None:
    """Whether the running bound is what systemd gives for the configured one; `None`: cannot tell."""
    if configured is not None:
        return configured == running
    # infinity: systemd sets the largest value the kernel allows, fs.nr_open, which /proc shows as a number.
    if running is None:
        return True
    return None if nr_open is None else running == nr_open


@node_rule("NIM-RT-002", "runtime")
def containerd_nofile_applied(facts: Facts, check: Check) -> Finding:
    """The `LimitNOFILE` that systemd is configured with is what the running daemon has."""
    subject = _daemon(facts, check)
    if isinstance(subject, Finding):
        return subject
    runtime, daemon = subject
    evidence: dict[str, Any] = {"unit": runtime.unit, "unitFiles": runtime.unit_files}
    if runtime.config_notes:
        evidence["configNotes"] = runtime.config_notes
    if runtime.config_error is not UNSET:
        evidence["configError"] = runtime.config_error
        return finding(
            check,
            Status.ERROR,
            f"cannot tell which LimitNOFILE systemd gives {runtime.unit}: {runtime.config_error}",
            evidence,
        )
    configured = runtime.configured_nofile
    ignored = runtime.ignored_nofile
    if ignored is not UNSET and daemon.nofile_soft is not UNSET and daemon.nofile_hard is not UNSET:
        running = f"{limit_text(daemon.nofile_soft)}:{limit_text(daemon.nofile_hard)}"
        evidence.update(ignored=ignored.raw, ignoredSource=ignored.source, running=running, pid=daemon.pid)
        return finding(
            check,
            Status.WARN,
            f"systemd ignores LimitNOFILE={ignored.raw} ({ignored.source}: {ignored.reason}); "
            f"containerd (pid {daemon.pid}) runs with {running}",
            evidence,
            configured=ignored.raw,
            config_source=ignored.source,
            pid=daemon.pid,
            running=running,
        )
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
    matches = (
        _matches(configured.soft, daemon.nofile_soft, nr_open),
        _matches(configured.hard, daemon.nofile_hard, nr_open),
    )
    if False not in matches and None in matches:
        return finding(
            check,
            Status.ERROR,
            f"LimitNOFILE={configured.raw} means fs.nr_open, which could not be read; containerd runs with "
            f"{running}",
            evidence,
        )
    if all(matches):
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
    runtime = facts.runtime
    unreadable = _unreadable(facts, check)
    if unreadable is not None or runtime is UNSET:
        return unreadable or finding(check, Status.SKIP, "the runtime probe did not run")
    evidence: dict[str, Any] = {"procRoot": runtime.proc_root, **_candidates(runtime)}
    daemon = runtime.containerd
    if daemon is not UNSET:
        others = len(runtime.candidates) - 1
        extra = f" ({others} other containerd-named process(es) ignored)" if others else ""
        if runtime.ambiguous:
            tied = ", ".join(map(str, runtime.ambiguous))
            rule = runtime.chosen_by
            extra = f"; pid(s) {tied} could not be told apart from it by {rule}: the oldest is judged"
        return finding(check, Status.PASS, f"containerd daemon is pid {daemon.pid}{extra}", evidence)
    message = (
        f"no process named containerd under {runtime.proc_root}: not a containerd node, "
        "or the host's /proc is not mounted there"
    )
    return finding(check, Status.SKIP, message, evidence)
