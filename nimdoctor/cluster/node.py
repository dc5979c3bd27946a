"""What the agent writes on its own Node: the `NIMNotReady` condition, three labels and one annotation.

The condition follows Node Problem Detector's polarity (`True` means a problem) with a CamelCase reason that
names the first failing critical check. The labels serve `nodeSelector`s (NIMCache jobs, which no extender
sees); the annotation changes whenever the capabilities change, and any Node change requeues the pods the
extender turned away. Everything here is pure: `nimdoctor.cluster.publisher` does the I/O.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import UNSET

from nimdoctor.report import Capabilities, Finding, Report, Severity, Status, format_time

PREFIX = "nimdoctor.io/"
CONDITION_TYPE = "NIMNotReady"
READY_LABEL = PREFIX + "ready"
CLIQUE_LABEL = PREFIX + "nvlink-clique"
NOFILE_LABEL = PREFIX + "nofile-ok"
HASH_ANNOTATION = PREFIX + "capabilities-hash"
HEALTHY_REASON = "NIMChecksPass"
MESSAGE_MAX = 1024  # condition messages are for humans; keep `kubectl describe node` readable


@dataclass(frozen=True)
class Condition:
    """The parts of our condition that decide whether it must be written."""

    status: str  # "True": the node cannot serve NIM; "False": it can
    reason: str
    message: str

    def matches(self, current: Mapping[str, Any] | None) -> bool:
        """Whether the Node already carries this condition (times aside)."""
        return current is not None and all(
            current.get(key) == value
            for key, value in (("status", self.status), ("reason", self.reason), ("message", self.message))
        )


def _blocking(report: Report) -> list[Finding]:
    return [
        f
        for f in report.findings
        if f.severity is Severity.CRITICAL and f.status in (Status.FAIL, Status.ERROR)
    ]


def reason_for(finding: Finding) -> str:
    """CamelCase reason naming a check: `NimGpu003Failed` (NIM-GPU-003 fails), `NimGpu003Unknown` (error)."""
    name = "".join(part.capitalize() for part in finding.id.split("-"))
    return name + ("Failed" if finding.status is Status.FAIL else "Unknown")


def desired_condition(report: Report) -> Condition:
    """`NIMNotReady` for this report: True with the first blocking check as reason, else False."""
    blocking = _blocking(report)
    if not blocking:
        return Condition("False", HEALTHY_REASON, "all critical nimdoctor checks pass")
    first = blocking[0]
    message = f"{first.id} {first.status.value}: {first.message}"
    if len(blocking) > 1:
        message += "; also " + ", ".join(f.id for f in blocking[1:])
    if len(message) > MESSAGE_MAX:
        message = message[: MESSAGE_MAX - 3] + "..."
    return Condition("True", reason_for(first), message)


def condition_object(
    wanted: Condition, current: Mapping[str, Any] | None, now: dt.datetime
) -> dict[str, Any]:
    """The full condition entry; its transition time moves only when the status flips."""
    unchanged = current is not None and current.get("status") == wanted.status
    transition = current.get("lastTransitionTime") if unchanged and current else None
    return {
        "type": CONDITION_TYPE,
        "status": wanted.status,
        "reason": wanted.reason,
        "message": wanted.message,
        "lastHeartbeatTime": format_time(now),
        "lastTransitionTime": transition or format_time(now),
    }


def _is_ours(condition: Any) -> bool:
    return isinstance(condition, Mapping) and condition.get("type") == CONDITION_TYPE


def find_condition(conditions: Any) -> Mapping[str, Any] | None:
    """Our condition among a Node's `status.conditions`, if present."""
    if not isinstance(conditions, list):
        return None
    return next((c for c in conditions if _is_ours(c)), None)


def replace_condition(conditions: Any, ours: Mapping[str, Any]) -> list[Any]:
    """The Node's conditions with ours put in place of the old one (or appended), every other left as is."""
    current = conditions if isinstance(conditions, list) else []
    if find_condition(current) is None:
        return [*current, dict(ours)]
    return [dict(ours) if _is_ours(c) else c for c in current]


def nofile_ok(capabilities: Capabilities, min_nofile: int) -> bool | None:
    """Whether containerd's soft open-file limit reaches `min_nofile` (unlimited does); None when unknown."""
    soft = capabilities.nofile_soft
    if soft is UNSET:
        return None
    return soft is None or soft >= min_nofile


def capabilities_hash(capabilities: Capabilities) -> str:
    """A short, stable digest of the capabilities (their canonical JSON)."""
    encoded = msgspec.json.encode(msgspec.to_builtins(capabilities), order="sorted")
    return hashlib.sha256(encoded).hexdigest()[:16]


def desired_metadata(report: Report, min_nofile: int) -> tuple[dict[str, str | None], dict[str, str]]:
    """Our labels and annotation for this report; a label whose value is unknown is None (to be removed)."""
    caps = report.capabilities
    clique = caps.max_nvlink_clique
    ok = nofile_ok(caps, min_nofile)
    labels: dict[str, str | None] = {
        READY_LABEL: _bool(report.ready),
        CLIQUE_LABEL: None if clique is UNSET else str(clique),
        NOFILE_LABEL: None if ok is None else _bool(ok),
    }
    return labels, {HASH_ANNOTATION: capabilities_hash(caps)}


def metadata_patch(
    labels: Mapping[str, str | None], annotations: Mapping[str, str], current: Mapping[str, Any]
) -> dict[str, Any] | None:
    """A merge patch bringing the Node's labels and annotations to ours; None when they already match."""
    have_labels = _mapping(current.get("labels"))
    have_annotations = _mapping(current.get("annotations"))
    label_changes = {k: v for k, v in labels.items() if have_labels.get(k) != v}
    annotation_changes = {k: v for k, v in annotations.items() if have_annotations.get(k) != v}
    patch: dict[str, Any] = {}
    if label_changes:
        patch["labels"] = label_changes
    if annotation_changes:
        patch["annotations"] = annotation_changes
    return {"metadata": patch} if patch else None


def foreign_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The Node's labels without ours: what the node probe may read (ours would feed back into the report)."""
    return {k: v for k, v in labels.items() if not k.startswith(PREFIX)}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _bool(value: bool) -> str:
    return "true" if value else "false"
