"""What every workload rule shares: the registry, the finding constructor and small judgements.

A rule is a pure function `(subject, world, check) -> Judged`: a finding plus the field it is about
(relative to the subject's spec), which `nimdoctor lint` turns into a file and line. Offline (`world.cluster`
is None) a rule that needs the cluster says skip; a rule that does not apply to its subject says skip too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from nimdoctor.catalog import Check
from nimdoctor.report import Requirement, Severity, Status
from nimdoctor.rules.registry import finding, register
from nimdoctor.sanitize import clean_line, clean_text
from nimdoctor.workloads.model import (
    FieldPath,
    Judged,
    Subject,
    World,
)
from nimdoctor.workloads.readers import mapping
from nimdoctor.workloads.rules.names import LABEL_MAX, SUBDOMAIN_MAX, printable_name, shell, valid_name
from nimdoctor.workloads.rules.shape import GPU, PGPU, dra_gpus, gpu_count

WorkloadRule = Callable[[Subject, World, Check], Judged]
WORKLOAD_RULES: dict[str, WorkloadRule] = {}

# Fix values that are Kubernetes names (printed inside commands), and those that are whole sentences.
NAME_VALUES = frozenset({"cache", "namespace", "secret", "pull_secret", "auth_secret"})
MULTILINE_VALUES = frozenset({"remedy", "detail", "extra_selector", "fields"})


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
    advice: bool = False,
    **fix: Any,
) -> Judged:
    """A finding for `check` about `field`, the fix template filled in for fail and warn.

    The message becomes one line and every fix value is made safe to print (control characters escaped;
    names, which reach shell commands, quoted unless valid). `advice`: a recommendation, not a defect,
    reported with severity info whatever the check's severity.
    """
    bad = [
        f"{key.replace('_', ' ')} {shell(value)}"
        for key, value in fix.items()
        if key in NAME_VALUES
        and isinstance(value, str)
        and not printable_name(value, label=key == "namespace")
    ]
    if bad and status in (Status.FAIL, Status.WARN):
        # A name the API server would reject never reaches a command: say so instead of the fix.
        message = f"{message} ({', '.join(bad)}: not a valid Kubernetes name)"
        return judged_plain(check, status, message, field, rename_text(label=False))
    values = {
        key: (shell(value) if key in NAME_VALUES else _clean(key, value)) if isinstance(value, str) else value
        for key, value in fix.items()
    }
    result = finding(check, status, clean_line(message), evidence, **values)
    if advice:
        result = msgspec.structs.replace(result, severity=Severity.INFO)
    return Judged(result, field)


def _clean(key: str, value: str) -> str:
    return clean_text(value) if key in MULTILINE_VALUES else clean_line(value)


def judged_plain(check: Check, status: Status, message: str, field: FieldPath | None, fix: str) -> Judged:
    """A finding whose fix is `fix` itself rather than the catalog's template (no command in it)."""
    result = finding(check, status, clean_line(message))
    return Judged(msgspec.structs.replace(result, fix=clean_text(fix)), field)


def skip_unless(subject: Subject, kind: str, check: Check) -> Judged | None:
    """A skip for a subject of another kind; None when the rule applies."""
    if subject.kind == kind:
        return None
    return judged(check, Status.SKIP, f"applies to {kind}s")


def requirement(subject: Subject, world: World) -> tuple[Requirement | None, str | None]:
    """What the subject's model needs (placement), or why that cannot be derived.

    Placement reads nvidia.com/gpu, MIG resources and the draResources it can count; a passed-through GPU
    (nvidia.com/pgpu) is a whole GPU, and a DRA claim or template placement cannot count (it is in another
    object) gets the device count of the lint input's copy, else 1, as the operator's default.
    """
    from nimdoctor.placement import RequirementError, requirement_from_manifest

    count, field = gpu_count(subject.spec)
    manifest = subject.manifest()
    if field is not None and field[-1] == PGPU and count:
        manifest = _with_gpus(manifest, count)
    try:
        return requirement_from_manifest(manifest, world.catalog), None
    except RequirementError as exc:
        devices, _ = dra_gpus(subject, world) if field is None else (None, "")
        if not devices:
            return None, str(exc)
    try:
        return requirement_from_manifest(_with_gpus(manifest, devices), world.catalog), None
    except RequirementError as exc:
        return None, str(exc)


def _with_gpus(manifest: dict[str, Any], count: int) -> dict[str, Any]:
    """The manifest asking for `count` whole GPUs as nvidia.com/gpu (a copy; draResources left out)."""
    spec = {k: v for k, v in manifest["spec"].items() if k != "draResources"}
    resources = dict(mapping(spec.get("resources")))
    resources["limits"] = {**mapping(resources.get("limits")), GPU: count}
    return {**manifest, "spec": {**spec, "resources": resources}}


def weights_bytes(req: Requirement) -> int | None:
    """The model's weights on disk: parameters x bytes per parameter."""
    return None if req.params_b is None else round(req.params_b * 1e9 * req.bytes_per_param)


def check_with_keys(world: World) -> Check:
    """NIM-WL-007, whose params name the auth secret's keys (other rules read them too)."""
    return world.catalog.get("NIM-WL-007")


def invalid_name(
    check: Check, name: str, what: str, field: FieldPath, *, label: bool = False
) -> Judged | None:
    """A failing finding when `name` is not a valid `what` name; None when it is."""
    if valid_name(name, label=label):
        return None
    message = f"{shell(name)} is not a valid {what} name: the API server rejects it"
    return judged_plain(check, Status.FAIL, message, field, rename_text(label=label))


def rename_text(*, label: bool) -> str:
    """How to rename an object whose name the API server rejects (no command: the name is unsafe)."""
    rule = "a DNS-1123 label" if label else "a DNS-1123 subdomain (a namespace: a DNS-1123 label)"
    limit = LABEL_MAX if label else SUBDOMAIN_MAX
    return (
        f"Rename it to {rule}: lower-case letters, digits and '-'{'' if label else ' and .'}, starting and "
        f"ending with a letter or digit, at most {limit} characters."
    )
