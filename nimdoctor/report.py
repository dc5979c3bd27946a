"""The report model: the one structure that every output renders.

Defined once here as msgspec structs; JSON keys are camelCase, and the JSON Schema is generated from these
types (`report_schema()`), never written by hand. A field left `UNSET` is absent from the JSON: that is how
"containerd was not found" differs from "containerd has no limit" (`None`, rendered `null`).
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from nimdoctor import API_VERSION


class Status(enum.StrEnum):
    """Outcome of one check."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"


class Severity(enum.StrEnum):
    """How much a failing check matters: critical means no NIM pod can run on the node."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class Base(msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True):
    """Common struct settings: immutable, keyword-only, camelCase on the wire."""


class Finding(Base, kw_only=True):
    """One check's verdict with its evidence and, when something is wrong, the fix."""

    id: str
    status: Status
    severity: Severity
    title: str
    message: str
    fix: str | None = None
    evidence: dict[str, Any] = msgspec.field(default_factory=dict)


class ContainerdCandidate(Base, kw_only=True):
    """A process whose `comm` is exactly `containerd`."""

    pid: int
    ppid: int | None = None
    start_ticks: int | None = None


class ContainerdFacts(Base, kw_only=True):
    """The running containerd daemon's open-file limits, as `/proc/<pid>/limits` shows them.

    A limit is an integer, or `None` for `unlimited`. Both are `UNSET` when the limits could not be read
    (`limits_error` says why).
    """

    pid: int
    nofile_soft: int | None | UnsetType = UNSET
    nofile_hard: int | None | UnsetType = UNSET
    source: str
    limits_error: str | UnsetType = UNSET


class NofileSetting(Base, kw_only=True):
    """`LimitNOFILE` as systemd would apply it; `None` in a bound means `infinity`."""

    soft: int | None
    hard: int | None
    raw: str
    source: str


class RuntimeFacts(Base, kw_only=True):
    """What the container runtime probe read from the host."""

    proc_root: str
    containerd: ContainerdFacts | UnsetType = UNSET
    candidates: list[ContainerdCandidate] = msgspec.field(default_factory=list)
    configured_nofile: NofileSetting | UnsetType = UNSET
    unit_files: list[str] = msgspec.field(default_factory=list)
    nr_open: int | UnsetType = UNSET
    config_error: str | UnsetType = UNSET
    error: str | UnsetType = UNSET


class Facts(Base, kw_only=True):
    """Facts per probe; a probe that did not run is absent."""

    runtime: RuntimeFacts | UnsetType = UNSET


class Capabilities(Base, kw_only=True):
    """The compact node summary that placement decides on (published by the agent, read by the extender)."""

    ready: bool
    nofile_soft: int | None | UnsetType = UNSET
    nofile_unlimited: bool | UnsetType = UNSET


class Report(Base, kw_only=True):
    """A node diagnosis."""

    api_version: str = API_VERSION
    kind: str = "Report"
    node: str
    generated_at: str
    simulated: str | UnsetType = UNSET
    ready: bool
    facts: Facts
    capabilities: Capabilities
    findings: list[Finding]


def to_builtins(report: Report) -> Any:
    """The report as plain JSON-compatible Python values (camelCase keys, absent fields left out)."""
    return msgspec.to_builtins(report)


def report_schema() -> dict[str, Any]:
    """JSON Schema of the report, generated from the types above."""
    return msgspec.json.schema(Report)
