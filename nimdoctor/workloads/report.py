"""The workload report: what `nimdoctor lint` and `nimdoctor run --cluster` print as JSON or YAML.

Each finding carries the usual finding keys (id, status, severity, title, message, fix, evidence) plus the
object it is about and, for manifests, the file and line of the offending field.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from nimdoctor import API_VERSION
from nimdoctor.report import Base, Finding, Status


class ObjectInfo(Base, frozen=True, kw_only=True):
    """The NIM object a finding is about; `pipeline` names the NIMPipeline a service belongs to."""

    kind: str
    namespace: str | None = None
    name: str
    pipeline: str | UnsetType = UNSET


class WorkloadFinding(Finding, frozen=True, kw_only=True):
    """One check's verdict on one object (the usual finding keys), located at the field it is about."""

    object: ObjectInfo
    field: str | UnsetType = UNSET  # e.g. spec.replicas
    file: str | UnsetType = UNSET  # lint only
    line: int | UnsetType = UNSET  # 1-based
    column: int | UnsetType = UNSET


class WorkloadReport(Base, frozen=True, kw_only=True):
    """Findings on NIM workloads, from manifests (`source: lint`) or a live cluster (`source: cluster`)."""

    api_version: str = API_VERSION
    kind: str = "WorkloadReport"
    generated_at: str
    source: str  # lint | cluster
    operator_version: str
    scope: list[str]  # the files read, or the namespaces (["*"] for all)
    objects: int
    counts: dict[str, int]  # findings by status
    notes: list[str] = msgspec.field(default_factory=list)  # what could not be read, and why
    findings: list[WorkloadFinding]


def exit_code(findings: list[WorkloadFinding]) -> int:
    """1 when a check failed; else 3 when one could not be evaluated; else 0."""
    statuses = {f.status for f in findings}
    if Status.FAIL in statuses:
        return 1
    return 3 if Status.ERROR in statuses else 0


def workload_schema() -> dict[str, Any]:
    """JSON Schema of the workload report, generated from the types above."""
    return msgspec.json.schema(WorkloadReport)
