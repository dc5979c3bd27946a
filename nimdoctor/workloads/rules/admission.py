"""The NIM Operator's own admission rules (`NIM-OP-*`): what the API server or the operator's webhook refuses.

NIM-OP-001 to 003 check a spec against the CRD schema (vendored for `--operator-version`, or the
cluster's installed CRDs): its types, enums, required fields and bounds; fields it does not know; its CEL
rules. NIM-OP-004 and 005 are the validating webhook's errors and warnings (`webhook`). Each problem is
its own finding, with the field it is about; a NIMPipeline's service is judged as the NIMService the
pipeline creates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nimdoctor.catalog import Check
from nimdoctor.report import Status
from nimdoctor.workloads.model import FieldPath, Judged, Subject, World, field_text
from nimdoctor.workloads.rules import webhook
from nimdoctor.workloads.rules.base import WorkloadRule, judged, workload_rule
from nimdoctor.workloads.schema import crds
from nimdoctor.workloads.schema.validate import Family, Outcome, Problem, check


def schema_source(world: World) -> crds.SchemaSet:
    """The CRD schemas to judge with: the cluster's installed ones when read, else the vendored ones."""
    return world.crd_schemas or crds.vendored(world.operator_version)


def outcome(subject: Subject, world: World) -> tuple[Outcome | None, str]:
    """The subject's schema problems and defaulted spec (None: no schema for its kind), and their source."""
    schemas = schema_source(world)
    pipeline = subject.origin is not None and subject.origin.kind == "NIMPipeline"
    schema = schemas.spec_schema(subject.kind, pipeline_service=pipeline)
    return (check(schema, subject.spec) if schema is not None else None), schemas.source


def written(subject: Subject, path: FieldPath) -> str:
    """A field as written in the object: `spec.image.tag`, `spec.services[0].spec.image.tag`."""
    base = subject.base
    start = base.index("spec") if "spec" in base else len(base)
    return field_text((*base[start:], *path))


# CEL rules a NIM-WL check reports instead of NIM-OP-003 (its fix says what to delete), by the start of the
# rule's message as the CRDs carry it (3.0.2 to 3.1.3 alike). One problem, one finding.
REPLICAS_WITH_SCALE = "spec.replicas cannot be set when spec.scale.enabled is true"
REPORTED_BY: Mapping[str, str] = {REPLICAS_WITH_SCALE: "NIM-WL-005"}
_FAMILY_CHECK: Mapping[Family, str] = {"schema": "NIM-OP-001", "unknown": "NIM-OP-002", "cel": "NIM-OP-003"}


def reported_elsewhere(problem: Problem) -> str | None:
    """The NIM-WL check that reports this CEL problem in NIM-OP-003's place, if any."""
    if problem.family != "cel":
        return None
    return next((check for start, check in REPORTED_BY.items() if problem.message.startswith(start)), None)


def cel_failure(subject: Subject, world: World, message_start: str) -> tuple[Problem | None, str] | None:
    """The subject's failing CEL rule whose message starts so (None: it holds or the CRDs lack it), and the
    schemas' source; None when there is no schema for the subject's kind."""
    result, source = outcome(subject, world)
    if result is None:
        return None
    found = (p for p in result.problems if p.family == "cel" and p.message.startswith(message_start))
    return next(found, None), source


def operator_check_at(subject: Subject, world: World, path: FieldPath) -> str | None:
    """The NIM-OP check that reports a problem at `path` of the subject's spec (schema, CEL or webhook),
    if any: a NIM-WL check stands down rather than report the same field for the same reason."""
    result, _ = outcome(subject, world)
    for problem in result.problems if result is not None else ():
        if problem.path == path and reported_elsewhere(problem) is None:
            return _FAMILY_CHECK[problem.family]
    if world.operator_version >= webhook.WEBHOOK_SINCE:
        for violation in _violations(subject, world, result):
            if violation.path == path:
                return "NIM-OP-005" if violation.warning else "NIM-OP-004"
    return None


def many(first: Judged, rest: Sequence[Judged]) -> Judged:
    """One check's several findings, as `evaluate` takes them."""
    return Judged(first.finding, first.field, tuple(rest))


def _family(family: Family) -> WorkloadRule:
    def rule(subject: Subject, world: World, check_: Check) -> Judged:
        result, source = outcome(subject, world)
        if result is None:
            return judged(check_, Status.SKIP, f"{source} have no schema for {subject.kind}")
        found = [p for p in result.problems if p.family == family and reported_elsewhere(p) is None]
        if not found:
            message = f"matches {source}"
            for problem in result.problems:
                if (other := reported_elsewhere(problem)) is not None:
                    message += f"; {other} reports the failing rule {problem.message!r}"
            return judged(check_, Status.PASS, message, evidence={"source": source})
        out = [_problem(subject, check_, p, source) for p in found]
        return many(out[0], out[1:])

    return rule


def _problem(subject: Subject, check_: Check, problem: Problem, source: str) -> Judged:
    where = written(subject, problem.path)
    evidence: dict[str, Any] = {"source": source}
    fix = problem.fix
    # A CEL rule's own message often starts with the field it is about.
    named = problem.message.lstrip(".").startswith(where)
    message = problem.message if named else f"{where}: {problem.message}"
    if problem.hint is not None:
        message += f"; did you mean {written(subject, problem.hint)}?"
        fix = f"move or rename {where} to {written(subject, problem.hint)}"
    return judged(check_, Status.FAIL, message, problem.path, evidence, fix=fix, where=where)


workload_rule("NIM-OP-001")(_family("schema"))
workload_rule("NIM-OP-002")(_family("unknown"))
workload_rule("NIM-OP-003")(_family("cel"))


def _webhook(warnings: bool) -> Callable[[Subject, World, Check], Judged]:
    def rule(subject: Subject, world: World, check_: Check) -> Judged:
        if world.operator_version < webhook.WEBHOOK_SINCE:
            return judged(check_, Status.SKIP, "the NIM Operator has a validating webhook from 3.0.0")
        result, _ = outcome(subject, world)
        found = [v for v in _violations(subject, world, result) if v.warning == warnings]
        if not found:
            what = "warns about nothing" if warnings else "accepts it"
            return judged(check_, Status.PASS, f"the operator's {subject.kind} webhook {what}")
        status = Status.WARN if warnings else Status.FAIL
        out = [
            judged(
                check_,
                status,
                f"{written(subject, v.path)}: {v.message}",
                v.path,
                {"source": f"NVIDIA/k8s-nim-operator {v.source}"},
                where=written(subject, v.path),
                fix=v.message,
            )
            for v in found
        ]
        return many(out[0], out[1:])

    return rule


def _violations(subject: Subject, world: World, result: Outcome | None) -> list[webhook.Violation]:
    """What the webhook says about the defaulted spec, less the fields the API server's schema check (which
    comes first) already rejects."""
    spec: Mapping[str, Any] = result.defaulted if result is not None else subject.spec
    if subject.kind == "NIMCache":
        violations = webhook.nimcache(spec)
    else:
        violations = webhook.nimservice(spec, world.operator_version)
    refused = {p.path for p in result.problems} if result is not None else set()
    return [v for v in violations if v.path not in refused]


workload_rule("NIM-OP-004")(_webhook(warnings=False))
workload_rule("NIM-OP-005")(_webhook(warnings=True))
