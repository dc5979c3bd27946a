"""NIM-WL-006: how a service is exposed (ingress, router)."""

from __future__ import annotations

from nimdoctor.catalog import Check
from nimdoctor.report import Status
from nimdoctor.workloads.model import (
    FieldPath,
    Judged,
    Subject,
    World,
    operator_version,
    version_text,
)
from nimdoctor.workloads.readers import at, text
from nimdoctor.workloads.rules.admission import operator_check_at
from nimdoctor.workloads.rules.base import (
    judged,
    skip_unless,
    workload_rule,
)


@workload_rule("NIM-WL-006")
def deprecated_ingress(subject: Subject, world: World, check: Check) -> Judged:
    """`expose.ingress` is deprecated (3.1.0). Enabled beside `expose.router.ingress` the CRD rejects it:
    NIM-OP-003 reports that in the operator's words (deprecated too); this check stands down."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    ingress = at(subject.spec, "expose", "ingress")
    if ingress is None:
        return judged(check, Status.PASS, "expose.ingress not used")
    field: FieldPath = ("expose", "ingress")
    host = text(at(ingress, "spec", "rules", 0, "host"))
    domain = host.split(".", 1)[1] if host and "." in host else "<your domain>"
    if (owner := operator_check_at(subject, world, field)) is not None:
        # e.g. enabled beside expose.router.ingress: the CRD's CEL rule (3.1.0 on) rejects it.
        return judged(check, Status.SKIP, f"{owner} reports spec.expose.ingress as the operator does", field)
    since = operator_version(str(check.params["deprecatedSince"]))
    if world.operator_version < since:
        return judged(check, Status.PASS, f"expose.ingress is current before operator {version_text(since)}")
    message = f"expose.ingress is deprecated since operator {version_text(since)}; use expose.router"
    return judged(check, Status.WARN, message, field, domain=domain)
