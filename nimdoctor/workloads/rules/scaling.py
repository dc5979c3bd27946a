"""NIM-WL-005 and 015: replicas and autoscaling, and the Multi-LLM NIM scaled out."""

from __future__ import annotations

from collections.abc import Mapping

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
from nimdoctor.workloads.rules.admission import REPLICAS_WITH_SCALE, cel_failure
from nimdoctor.workloads.rules.base import (
    judged,
    skip_unless,
    workload_rule,
)
from nimdoctor.workloads.rules.shape import (
    cache_name,
    pod_count,
)


@workload_rule("NIM-WL-005")
def replicas_with_autoscaling(subject: Subject, world: World, check: Check) -> Judged:
    """`replicas` is not set together with `scale.enabled`: the CRDs' CEL rule (3.0.2 on) rejects it.

    This check reports that CEL rule in NIM-OP-003's place (its fix says what to delete): it fails when the
    CRDs judged with (vendored for the operator version, or the cluster's) carry the rule.
    """
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    scaling = at(subject.spec, "scale", "enabled") is True
    if not scaling or subject.spec.get("replicas") is None:
        return judged(check, Status.PASS, "replicas and scale.enabled are not both set")
    since = operator_version(str(check.params["rejectedSince"]))
    replicas_field = "spec.replicas"
    if subject.origin is not None and subject.origin.kind == "NIMPipeline":
        replicas_field = f"replicas from service {subject.ref.name} of NIMPipeline {subject.origin.name}"
    replicas = subject.spec["replicas"]
    found = cel_failure(subject, world, REPLICAS_WITH_SCALE)
    if found is None:  # no schema for the kind: judged by the operator version alone
        rejected = world.operator_version >= since
        source = f"the NIM Operator {version_text(world.operator_version)} CRDs"
    else:
        rejected, source = found[0] is not None, found[1]
    evidence = {"source": source}
    if rejected:
        message = f"replicas {replicas} with scale.enabled: {source} reject it ({REPLICAS_WITH_SCALE})"
        return judged(check, Status.FAIL, message, ("replicas",), evidence, replicas_field=replicas_field)
    message = (
        f"replicas {replicas} with scale.enabled: {source} have no rule against it and the HPA owns the "
        f"count; operator {version_text(since)} and later reject it"
    )
    return judged(check, Status.WARN, message, ("replicas",), evidence, replicas_field=replicas_field)


def served_model(subject: Subject, world: World) -> str:
    """What a Multi-LLM NIM serves: env NIM_MODEL_NAME, else its NIMCache's model, else the cache's name
    (the image names only the container)."""
    env = subject.spec.get("env")
    for entry in env if isinstance(env, list) else []:
        if isinstance(entry, Mapping) and entry.get("name") == "NIM_MODEL_NAME" and text(entry.get("value")):
            return str(text(entry.get("value")))
    name = cache_name(subject)
    cache = world.cache(subject.ref.namespace, name) if name else None
    if cache is not None:
        for source in ("hf", "dataStore"):
            model = text(at(cache.spec, "source", source, "modelName"))
            if model:
                namespace = text(at(cache.spec, "source", source, "namespace"))
                return f"{namespace}/{model}" if namespace else model
        endpoint = text(at(cache.spec, "source", "ngc", "modelEndpoint"))
        if endpoint:
            return endpoint
    return name or "the model"


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
    model = served_model(subject, world)
    message = f"the Multi-LLM NIM serves {model} with {why}: production traffic wants a model-specific NIM"
    return judged(check, Status.WARN, message, ("image", "repository"), advice=True, model=model)
