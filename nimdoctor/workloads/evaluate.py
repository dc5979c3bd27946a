"""Apply the workload rules to subjects and build the report: one path for lint, run --cluster and audit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from nimdoctor.catalog import Catalog, Check
from nimdoctor.report import Status, format_time
from nimdoctor.rules.registry import crashed
from nimdoctor.workloads.manifests import Document
from nimdoctor.workloads.model import (
    FieldPath,
    Judged,
    ObjectError,
    Subject,
    World,
    field_text,
    is_nim,
    subjects_of,
    version_text,
)
from nimdoctor.workloads.report import ObjectInfo, WorkloadFinding, WorkloadReport
from nimdoctor.workloads.rules import WORKLOAD_RULES


def workload_checks(catalog: Catalog, only: Iterable[str] | None = None) -> list[Check]:
    """The workload checks to run, in catalog order; `only` restricts them (unknown ids: `KeyError`)."""
    wanted = set(only) if only is not None else None
    if wanted is not None:
        unknown = sorted(wanted - {c for c in catalog.checks if c in WORKLOAD_RULES})
        if unknown:
            raise KeyError(f"unknown workload check id(s): {', '.join(unknown)}")
    return [
        check
        for check_id, check in catalog.checks.items()
        if check_id in WORKLOAD_RULES and (wanted is None or check_id in wanted)
    ]


def subjects_from_documents(documents: Sequence[Document]) -> list[Subject]:
    """The NIM subjects in lint documents (also inside a `kind: List`); other documents are ignored.

    Raises `ObjectError` naming the document's file and the bad field's line for a NIM object it cannot read.
    """
    subjects: list[Subject] = []
    for number, document in enumerate(documents):
        data = document.data
        objects: list[tuple[FieldPath, Any]] = [((), data)]
        if isinstance(data, dict) and data.get("kind") == "List" and isinstance(data.get("items"), list):
            objects = [(("items", i), item) for i, item in enumerate(data["items"])]
        for prefix, obj in objects:
            if not is_nim(obj):
                continue
            try:
                subjects.extend(subjects_of(obj, number, prefix))
            except ObjectError as exc:
                line, column = document.locate(exc.path)
                raise ObjectError(f"{document.file}:{line}:{column}: {exc}", exc.path) from None
    return subjects


def judge(subject: Subject, world: World, check: Check) -> Judged:
    """One rule on one subject; a rule that raises becomes an `error` finding, never a crash."""
    try:
        return WORKLOAD_RULES[check.id](subject, world, check)
    except Exception as exc:  # a bug in one rule must not hide the other findings
        return Judged(crashed(check, exc))


def evaluate(
    subjects: Sequence[Subject],
    world: World,
    checks: Sequence[Check],
    documents: Sequence[Document] | None = None,
) -> list[WorkloadFinding]:
    """Every check on every subject, located in its document when `documents` (lint) are given."""
    results = []
    for subject in subjects:
        info = ObjectInfo(
            kind=subject.kind,
            namespace=subject.ref.namespace,
            name=subject.ref.name,
            pipeline=(
                subject.origin.name
                if subject.origin is not None and subject.origin.kind == "NIMPipeline"
                else UNSET
            ),
        )
        for check in checks:
            first = judge(subject, world, check)
            for judged in (first, *first.also):
                results.append(_located(subject, judged, info, documents))
    return results


def _located(
    subject: Subject, judged: Judged, info: ObjectInfo, documents: Sequence[Document] | None
) -> WorkloadFinding:
    """A judged finding with its field and, in lint, its file, line and column."""
    path = (*subject.base, *judged.field) if judged.field is not None else subject.name_path
    file: str | UnsetType = UNSET
    line: int | UnsetType = UNSET
    column: int | UnsetType = UNSET
    if documents is not None and subject.document is not None:
        document = documents[subject.document]
        file = document.file
        line, column = document.locate(path)
    return WorkloadFinding(
        **msgspec.structs.asdict(judged.finding),
        object=info,
        field=field_text(path),
        file=file,
        line=line,
        column=column,
    )


def build_report(
    findings: list[WorkloadFinding],
    *,
    source: str,
    world: World,
    scope: list[str],
    objects: int,
    notes: list[str] | None = None,
    now: dt.datetime | None = None,
) -> WorkloadReport:
    """The report document around the findings."""
    counts = {status.value: 0 for status in Status}
    for f in findings:
        counts[f.status.value] += 1
    return WorkloadReport(
        generated_at=format_time(now or dt.datetime.now(dt.UTC)),
        source=source,
        operator_version=version_text(world.operator_version),
        scope=scope,
        objects=objects,
        counts=counts,
        notes=notes or [],
        findings=findings,
    )
