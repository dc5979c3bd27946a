"""NIM-WL-005 and 015: replicas and autoscaling, and the Multi-LLM NIM scaled out."""

from __future__ import annotations

from nimdoctor.catalog import Check
from nimdoctor.report import Status
from nimdoctor.workloads.model import (
    Judged,
    Subject,
    World,
    operator_version,
    version_text,
)
from nimdoctor.workloads.readers import at, text
from nimdoctor.workloads.rules.base import (
    judged,
    requirement,
    skip_unless,
    workload_rule,
)
from nimdoctor.workloads.rules.shape import (
    cache_name,
    pod_count,
)


@workload_rule("NIM-WL-005")
def replicas_with_autoscaling(subject: Subject, world: World, check: Check) -> Judged:
    """`replicas` is not set together with `scale.enabled` (rejected by the 3.1.0+ CRDs)."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    scaling = at(subject.spec, "scale", "enabled") is True
    if not scaling or subject.spec.get("replicas") is None:
        return judged(check, Status.PASS, "replicas and scale.enabled are not both set")
    since = operator_version(str(check.params["rejectedSince"]))
    operator = version_text(world.operator_version)
    where = ""
    if subject.origin is not None and subject.origin.kind == "NIMPipeline":
        where = f" from service {subject.ref.name} of NIMPipeline {subject.origin.name}"
    if world.operator_version >= since:
        message = (
            f"replicas {subject.spec['replicas']} with scale.enabled: the NIM Operator {operator} API "
            "server rejects this (spec.replicas cannot be set when spec.scale.enabled is true)"
        )
        return judged(check, Status.FAIL, message, ("replicas",), where=where)
    message = (
        f"replicas {subject.spec['replicas']} with scale.enabled: operator {operator} ignores it, "
        f"{version_text(since)} and later reject it"
    )
    return judged(check, Status.WARN, message, ("replicas",), where=where)


@workload_rule("NIM-WL-015")
def multi_llm_in_production(subject: Subject, world: World, check: Check) -> Judged:
    """The Multi-LLM NIM container is not the production server of a single model."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    repository = text(at(subject.spec, "image", "repository")) or ""
    images = [str(i) for i in check.params["multiLlmImages"]]
    if not any(repository == i or repository.startswith(i + ":") for i in images):
        return judged(check, Status.SKIP, "not the Multi-LLM NIM container")
    pods, why = pod_count(subject.spec)
    scaling = at(subject.spec, "scale", "enabled") is True
    if pods <= 1 and not scaling:
        return judged(check, Status.PASS, "Multi-LLM NIM with one replica (development use)")
    req, _ = requirement(subject, world)
    model = req.model if req is not None else cache_name(subject) or "the model"
    message = f"the Multi-LLM NIM serves {model} with {why}: production traffic wants a model-specific NIM"
    return judged(check, Status.WARN, message, ("image", "repository"), model=model)
