"""The NodeReport resource: its coordinates, the status the agent writes, and how a reader (extender, audit,
`--reports`) gets a node's capabilities out of one.

The agent writes one cluster-scoped `NodeReport` per node, named after the node. Its `status` holds the
report's stable content (`ready`, `capabilities`, `facts`, `findings`) plus `observedAt` (when that content
was last probed) and `heartbeatTime` (when the agent last wrote it). A reader needs only `ready`,
`capabilities`, the failing check ids and the two times; it ignores keys it does not know, so an extender
keeps reading reports from a newer agent during a rolling upgrade. `nimdoctor run -o json` output (kind
`Report`) is accepted too, for `--reports` files and what-if runs.

Writing side: `NodeReportStatus` is the status as a typed struct (the CRD's schema is generated from it, see
`nimdoctor.cluster.crd`), `build_status` fills it from a Report, and `stable_content` drops the values that
change on every probe, so the agent writes only when the content changed (plus its heartbeat).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NamedTuple

import msgspec
from msgspec import UNSET, UnsetType

from nimdoctor import API_VERSION, __version__
from nimdoctor.report import Base, Capabilities, Facts, Finding, Report, Status, format_time

GROUP = "nimdoctor.io"
VERSION = "v1alpha1"
PLURAL = "nodereports"
KIND = "NodeReport"

_CAPABILITY_KEYS = frozenset(f.encode_name for f in msgspec.structs.fields(Capabilities))
# Values that differ between two probes of an unchanged node: not compared when deciding whether to write.
# A `*` steps into every item of a list.
VOLATILE_PATHS: tuple[tuple[str, ...], ...] = (
    ("observedAt",),
    ("heartbeatTime",),
    ("facts", "gpu", "durationSeconds"),
    ("facts", "gpu", "gpus", "*", "memoryFreeBytes"),
)


# Bounds on what a reader takes from a report beyond its capabilities (see `report.Capabilities`).
MAX_NODE_NAME = 253  # a Kubernetes object name (DNS-1123 subdomain)
MAX_CHECK_ID = 64
MAX_FINDINGS = 512
MAX_TIMESTAMP = 64


class NodeReportError(ValueError):
    """A document that is not a readable Report or NodeReport."""


class InvalidReport(NodeReportError):
    """A report of a known node whose content fails validation: the node counts as unknown, nothing more.

    `problem` names the invalid field and what is allowed, e.g. `capabilities.computeCapability: Expected
    `str` matching regex ...`; it never carries the value itself.
    """

    def __init__(self, node: str, problem: str) -> None:
        super().__init__(f"node {node!r}: {problem}")
        self.node = node
        self.problem = problem


@dataclass(frozen=True)
class NodeRecord:
    """What a reader needs of one node's report. `simulated` names the machine a simulated report
    pretends to be (None: measured on the node)."""

    node: str
    capabilities: Capabilities
    ready: bool
    failing: tuple[str, ...]  # ids of failing or unevaluable checks, in report order
    observed_at: dt.datetime | None
    heartbeat_at: dt.datetime | None  # None for a `Report` document: it was never published
    simulated: str | None = None

    def age(self, now: dt.datetime) -> float | None:
        """Seconds since the last heartbeat (or observation); None when the document carries neither."""
        last = self.heartbeat_at or self.observed_at
        return None if last is None else (now - last).total_seconds()

    def is_stale(self, now: dt.datetime, stale_after: float) -> bool:
        """Older than `stale_after` seconds; a report without any time counts as stale."""
        age = self.age(now)
        return age is None or age > stale_after


class Unusable(NamedTuple):
    """Why a node's report is not used: `invalid` (`detail` names the field and what is allowed) or
    `simulated` (`detail` names the machine it pretends to be). Its node counts as unknown, as if it had no
    report, and nothing else is affected."""

    kind: Literal["invalid", "simulated"]
    detail: str

    def describe(self) -> str:
        """One line for a reader's output: what is wrong with the report."""
        if self.kind == "simulated":
            return (
                f"the NodeReport is simulated ({self.detail}), not measured: run the nimdoctor agent there "
                "without --simulate"
            )
        return f"the NodeReport is invalid ({self.detail})"


UNUSABLE_KINDS = ("invalid", "simulated")


def distrust(record: NodeRecord, *, trust_simulated: bool) -> Unusable | None:
    """Why a valid report is still no measurement (it is simulated, and simulations are not trusted), or
    None when it may be used."""
    if record.simulated is not None and not trust_simulated:
        return Unusable("simulated", record.simulated)
    return None


def read_usable(doc: Any, *, trust_simulated: bool) -> tuple[str, NodeRecord | Unusable]:
    """Is this report usable, and if not why: (node, its record) or (node, why it is not used).

    Every reader of NodeReports (the extender, the audit and `run --cluster`, capacity) judges reports
    here, so a report one of them refuses is refused by all. Raises `NodeReportError` only when not even the
    node can be told.
    """
    try:
        record = parse_node_document(doc)
    except InvalidReport as exc:
        return exc.node, Unusable("invalid", exc.problem)
    return record.node, distrust(record, trust_simulated=trust_simulated) or record


def parse_time(value: Any, field: str = "timestamp") -> dt.datetime | None:
    """An RFC 3339 timestamp (`2026-11-29T19:00:00Z`) as an aware datetime; None when absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise NodeReportError(f"{field}: must be a string, not {type(value).__name__}")
    if len(value) > MAX_TIMESTAMP:
        raise NodeReportError(f"{field}: must be an RFC 3339 timestamp, not {len(value)} characters")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise NodeReportError(f"{field}: must be an RFC 3339 timestamp") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _problem(exc: msgspec.ValidationError, prefix: str) -> str:
    """msgspec's `Expected ... - at `$.key`` as `prefix.key: Expected ...` (the field first)."""
    text, _, where = str(exc).partition(" - at `$")
    return f"{prefix}{where.rstrip('`')}: {text}" if where else f"{prefix}: {text}"


def _capabilities(data: Any, ready: bool) -> Capabilities:
    if not isinstance(data, Mapping):
        raise NodeReportError("capabilities: must be a mapping")
    known = {k: v for k, v in data.items() if k in _CAPABILITY_KEYS}
    for key, value in known.items():
        # Python's `$` (in the schema's patterns) lets one trailing line break through; refuse it here.
        if isinstance(value, str) and value.endswith("\n"):
            raise NodeReportError(f"capabilities.{key}: a line break is not allowed")
    known["ready"] = ready
    try:
        return msgspec.convert(known, Capabilities)
    except msgspec.ValidationError as exc:
        raise NodeReportError(_problem(exc, "capabilities")) from None


def _failing(findings: Any) -> tuple[str, ...]:
    if not isinstance(findings, list):
        return ()
    return tuple(
        f["id"]
        for f in findings[:MAX_FINDINGS]
        if isinstance(f, Mapping)
        and f.get("status") in ("fail", "error")
        and isinstance(f.get("id"), str)
        and len(f["id"]) <= MAX_CHECK_ID
    )


def _simulated(value: Any) -> str | None:
    if value is None or value == "":
        return None
    # Any other value marks a simulation, even one of the wrong type: never trusted as a measurement.
    return value[:64] if isinstance(value, str) and value.isprintable() else "unnamed machine"


def parse_node_document(doc: Any) -> NodeRecord:
    """A `NodeReport` object (as the API returns it) or a `Report` document, as a `NodeRecord`.

    Raises `InvalidReport` when the node is known but its report is not valid (so a reader can answer for
    that node), `NodeReportError` when not even the node can be told; never any other exception.
    """
    if not isinstance(doc, Mapping):
        raise NodeReportError("not a mapping")
    kind = doc.get("kind")
    if kind == KIND:
        metadata = doc.get("metadata")
        node = metadata.get("name") if isinstance(metadata, Mapping) else None
        body = doc.get("status")
    elif kind == "Report":
        node, body = doc.get("node"), doc
    else:
        raise NodeReportError(f"kind {str(kind)[:40]!r} is neither {KIND} nor Report")
    if doc.get("apiVersion") != API_VERSION:
        raise NodeReportError(f"apiVersion must be {API_VERSION}")
    if not isinstance(node, str) or not node:
        raise NodeReportError("no node name")
    if len(node) > MAX_NODE_NAME or not node.isprintable():
        raise NodeReportError(f"node name: must be a Kubernetes name (at most {MAX_NODE_NAME} characters)")
    if not isinstance(body, Mapping):
        raise NodeReportError(f"NodeReport {node!r} has no status yet")
    try:
        return _record(node, kind, body)
    except InvalidReport:
        raise
    except NodeReportError as exc:
        raise InvalidReport(node, str(exc)) from None


def _record(node: str, kind: str, body: Mapping[str, Any]) -> NodeRecord:
    if kind == KIND:
        heartbeat = parse_time(body.get("heartbeatTime"), "heartbeatTime")
        observed = parse_time(body.get("observedAt"), "observedAt")
    else:
        heartbeat, observed = None, parse_time(body.get("generatedAt"), "generatedAt")
    ready = body.get("ready")
    if not isinstance(ready, bool):
        raise NodeReportError("ready: must be true or false")
    return NodeRecord(
        node=node,
        capabilities=_capabilities(body.get("capabilities"), ready),
        ready=ready,
        failing=_failing(body.get("findings")),
        observed_at=observed,
        heartbeat_at=heartbeat,
        simulated=_simulated(body.get("simulated")),
    )


Timestamp = Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]


class NodeReportStatus(Base, frozen=True, kw_only=True):
    """The `status` of a NodeReport as the agent writes it: a report's content, when it was probed, and when
    the agent last wrote it (its heartbeat).

    `failingChecks` repeats the ids of failing or unevaluable checks, comma-separated, for `kubectl get`
    (printer columns take simple paths only); it is absent when none fail.
    """

    ready: bool
    capabilities: Capabilities
    facts: Facts
    findings: list[Finding]
    failing_checks: str | UnsetType = UNSET
    simulated: str | UnsetType = UNSET
    observed_at: Timestamp
    heartbeat_time: Timestamp
    agent_version: str


def build_status(
    report: Report, heartbeat: dt.datetime, agent_version: str = __version__
) -> NodeReportStatus:
    """The status for `report`, written at `heartbeat` (observed when the report was generated)."""
    failing = [f.id for f in report.findings if f.status in (Status.FAIL, Status.ERROR)]
    return NodeReportStatus(
        ready=report.ready,
        capabilities=report.capabilities,
        facts=report.facts,
        findings=report.findings,
        failing_checks=",".join(failing) if failing else UNSET,
        simulated=report.simulated,
        observed_at=report.generated_at,
        heartbeat_time=format_time(heartbeat),
        agent_version=agent_version,
    )


def status_document(status: NodeReportStatus) -> dict[str, Any]:
    """The status as the API server will return it: JSON values only (camelCase keys, tuples as lists,
    `null` kept where the report says "none"), so that it compares equal to what was read back."""
    document: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(status))
    return document


def stable_content(status: Mapping[str, Any]) -> Any:
    """`status` without its volatile values (`VOLATILE_PATHS`): equal for two probes of an unchanged node."""
    content: Any = dict(status)
    for path in VOLATILE_PATHS:
        content = _without(content, path)
    return content


def _without(value: Any, path: tuple[str, ...]) -> Any:
    """A copy of `value` with the key at `path` removed; the parts of `value` off the path are shared."""
    head, rest = path[0], path[1:]
    if head == "*":
        return [_without(item, rest) for item in value] if isinstance(value, list) else value
    if not isinstance(value, Mapping) or head not in value:
        return value
    if not rest:
        return {k: v for k, v in value.items() if k != head}
    return {**value, head: _without(value[head], rest)}


def nodereport_object(node: str, node_uid: str | None) -> dict[str, Any]:
    """A new NodeReport for `node`, owned by its Node when the Node's uid is known (so it is
    garbage-collected with the Node). Its status is written separately: an API server ignores status on
    create when the status subresource is on."""
    metadata: dict[str, Any] = {
        "name": node,
        "labels": {"app.kubernetes.io/name": "nimdoctor", "app.kubernetes.io/managed-by": "nimdoctor"},
    }
    if node_uid:
        metadata["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid}]
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata}
