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
from nimdoctor.workloads.rules.base import (
    judged,
    skip_unless,
    workload_rule,
)


@workload_rule("NIM-WL-006")
def deprecated_ingress(subject: Subject, world: World, check: Check) -> Judged:
    """`expose.ingress` is deprecated (3.1.0); enabled beside `expose.router.ingress` it is rejected."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    ingress = at(subject.spec, "expose", "ingress")
    if ingress is None:
        return judged(check, Status.PASS, "expose.ingress not used")
    field: FieldPath = ("expose", "ingress")
    host = text(at(ingress, "spec", "rules", 0, "host"))
    domain = host.split(".", 1)[1] if host and "." in host else "<your domain>"
    if at(ingress, "enabled") is True and at(subject.spec, "expose", "router", "ingress") is not None:
        message = "expose.ingress is enabled together with expose.router.ingress: the API server rejects both"
        return judged(check, Status.FAIL, message, field, domain=domain)
    since = operator_version(str(check.params["deprecatedSince"]))
    if world.operator_version < since:
        return judged(check, Status.PASS, f"expose.ingress is current before operator {version_text(since)}")
    message = f"expose.ingress is deprecated since operator {version_text(since)}; use expose.router"
    return judged(check, Status.WARN, message, field, domain=domain)
