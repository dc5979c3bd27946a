"""What every workload rule shares: the registry, the finding constructor and small judgements.

A rule is a pure function `(subject, world, check) -> Judged`: a finding plus the field it is about
(relative to the subject's spec), which `nimdoctor lint` turns into a file and line. Offline (`world.cluster`
is None) a rule that needs the cluster says skip; a rule that does not apply to its subject says skip too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nimdoctor.catalog import Check
from nimdoctor.report import Requirement, Status
from nimdoctor.rules.registry import finding, register
from nimdoctor.workloads.model import (
    FieldPath,
    Judged,
    Subject,
    World,
)

WorkloadRule = Callable[[Subject, World, Check], Judged]
WORKLOAD_RULES: dict[str, WorkloadRule] = {}

LIVE_ONLY = "checked against a live cluster only (nimdoctor run --cluster)"


def workload_rule(check_id: str) -> Callable[[WorkloadRule], WorkloadRule]:
    """Register `fn` as the one rule for `check_id` (in the shared registry and for `evaluate`)."""

    def decorate(fn: WorkloadRule) -> WorkloadRule:
        register(check_id, kind="workload", probes=frozenset())(fn)
        WORKLOAD_RULES[check_id] = fn
        return fn

    return decorate


def judged(
    check: Check,
    status: Status,
    message: str,
    field: FieldPath | None = None,
    evidence: dict[str, Any] | None = None,
    **fix: Any,
) -> Judged:
    """A finding for `check` about `field`, the fix template filled in for fail and warn."""
    return Judged(finding(check, status, message, evidence, **fix), field)


def skip_unless(subject: Subject, kind: str, check: Check) -> Judged | None:
    """A skip for a subject of another kind; None when the rule applies."""
    if subject.kind == kind:
        return None
    return judged(check, Status.SKIP, f"applies to {kind}s")


def requirement(subject: Subject, world: World) -> tuple[Requirement | None, str | None]:
    """What the subject's model needs (placement), or why that cannot be derived."""
    from nimdoctor.placement import RequirementError, requirement_from_manifest

    try:
        return requirement_from_manifest(subject.manifest(), world.catalog), None
    except RequirementError as exc:
        return None, str(exc)


def weights_bytes(req: Requirement) -> int | None:
    """The model's weights on disk: parameters x bytes per parameter."""
    return None if req.params_b is None else round(req.params_b * 1e9 * req.bytes_per_param)


def gb(nbytes: float) -> str:
    """Decimal gigabytes, as model and disk sizes are quoted."""
    return f"{nbytes / 1e9:.1f} GB"


def check_with_keys(world: World) -> Check:
    """NIM-WL-007, whose params name the auth secret's keys (other rules read them too)."""
    return world.catalog.get("NIM-WL-007")
