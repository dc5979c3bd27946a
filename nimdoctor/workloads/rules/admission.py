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


def many(first: Judged, rest: Sequence[Judged]) -> Judged:
    """One check's several findings, as `evaluate` takes them."""
    return Judged(first.finding, first.field, tuple(rest))


def _family(family: Family) -> WorkloadRule:
    def rule(subject: Subject, world: World, check_: Check) -> Judged:
        result, source = outcome(subject, world)
        if result is None:
            return judged(check_, Status.SKIP, f"{source} have no schema for {subject.kind}")
        found = [p for p in result.problems if p.family == family]
        if not found:
            return judged(check_, Status.PASS, f"matches {source}", evidence={"source": source})
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
        spec: Mapping[str, Any] = result.defaulted if result is not None else subject.spec
        if subject.kind == "NIMCache":
            violations = webhook.nimcache(spec)
        else:
            violations = webhook.nimservice(spec, world.operator_version)
        # The API server's schema check comes first: a field it rejects never reaches the webhook.
        refused = {p.path for p in result.problems} if result is not None else set()
        found = [v for v in violations if v.warning == warnings and v.path not in refused]
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


workload_rule("NIM-OP-004")(_webhook(warnings=False))
workload_rule("NIM-OP-005")(_webhook(warnings=True))
