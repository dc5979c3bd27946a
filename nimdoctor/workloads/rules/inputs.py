"""NIM-WL-019: each NIM object is defined once in a lint input (never two merged into one)."""

from __future__ import annotations

from nimdoctor.catalog import Check
from nimdoctor.report import Status
from nimdoctor.workloads.model import Judged, Subject, World
from nimdoctor.workloads.rules.base import judged, workload_rule


@workload_rule("NIM-WL-019")
def defined_once(subject: Subject, world: World, check: Check) -> Judged:
    """Two objects of one kind, namespace and name in the files linted together: `kubectl apply` keeps one,
    and which one a reference binds to depends on the order the files are applied in."""
    if world.inputs is None:
        return judged(check, Status.SKIP, "a cluster holds one object per kind, namespace and name")
    key = (subject.ref.kind, subject.ref.namespace, subject.ref.name)
    places = world.inputs.places.get(key, ())
    if len(places) < 2:
        return judged(check, Status.PASS, "defined once in this input")
    where = ", ".join(places)
    namespace = subject.ref.namespace or "(no namespace)"
    message = f"{len(places)} {subject.kind}s named {subject.ref.name} in namespace {namespace}: {where}"
    return judged(check, Status.FAIL, message, None, {"places": list(places)}, places=where)
