"""What a NIM Operator resource needs: NIMService, NIMCache, and each enabled service of a NIMPipeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nimdoctor import gpus as gpu_models
from nimdoctor.catalog import Catalog
from nimdoctor.placement.assemble import build
from nimdoctor.placement.claim_specs import GPU_CLASS
from nimdoctor.placement.dra import ClaimedGpus, nimservice_claims, with_claims
from nimdoctor.placement.errors import NoGpuRequested, RequirementError
from nimdoctor.placement.model_names import declared_params, image_tag, nim_version
from nimdoctor.placement.pod_fields import (
    ANNOTATION_PRECISION,
    GPU_RESOURCE,
    MAX_CONTEXT,
    MAX_MODEL_LEN_ENV,
    annotated_precision,
    env_values,
    int_env,
    mapping,
    object_name,
    parse_precision,
    positive,
    resource_request,
    string_map,
)
from nimdoctor.placement.profiles import parse_profile
from nimdoctor.report import Requirement


def requirement_from_manifest(doc: Mapping[str, Any], catalog: Catalog) -> Requirement:
    """The requirement of a NIMService or NIMCache manifest (`apps.nvidia.com/v1alpha1`, as a dict).

    NIMService: `spec.image.repository`, `spec.resources` `nvidia.com/gpu`, `spec.storage.nimCache.profile`,
    `spec.env`, `spec.multiNode.parallelism` (tensor per pod, pipeline pods), annotations in `metadata` or
    `spec.annotations`. NIMCache: the NGC `modelPuller` image (or the HF / DataStore model name) and the
    `spec.source.*.model` filters (precision, tensorParallelism, profiles, gpus).
    """
    doc = mapping(doc, "manifest", "")
    kind = doc.get("kind")
    metadata = mapping(doc.get("metadata") or {}, f"{kind}", "metadata")
    where = f"{kind} {object_name(metadata)}"
    spec = mapping(doc.get("spec"), where, "spec")
    if kind == "NIMService":
        return _from_nimservice(spec, metadata, where, catalog)
    if kind == "NIMCache":
        return _from_nimcache(spec, metadata, where, catalog)
    raise RequirementError(
        f"{where}: kind must be NIMService or NIMCache (a NIMPipeline: requirements_from_manifest)"
    )


def requirements_from_manifest(doc: Mapping[str, Any], catalog: Catalog) -> list[Requirement]:
    """Requirements of a NIMService, a NIMCache, or each enabled service of a NIMPipeline."""
    doc = mapping(doc, "manifest", "")
    if doc.get("kind") != "NIMPipeline":
        return [requirement_from_manifest(doc, catalog)]
    metadata = mapping(doc.get("metadata") or {}, "NIMPipeline", "metadata")
    where = f"NIMPipeline {object_name(metadata)}"
    spec = mapping(doc.get("spec"), where, "spec")
    services = spec.get("services")
    if not isinstance(services, list):
        raise RequirementError(f"{where}: spec.services: must be a list")
    result = []
    for index, raw in enumerate(services):
        service = mapping(raw, where, f"spec.services[{index}]")
        if service.get("enabled") is False:
            continue
        name = service.get("name") or f"services[{index}]"
        inner = {
            "kind": "NIMService",
            "metadata": {"name": name, "namespace": metadata.get("namespace")},
            "spec": service.get("spec"),
        }
        try:
            result.append(requirement_from_manifest(inner, catalog))
        except RequirementError as exc:
            raise RequirementError(f"{where}: spec.services[{index}]: {exc}") from None
    return result


def _from_nimservice(
    spec: Mapping[str, Any], metadata: Mapping[str, Any], where: str, catalog: Catalog
) -> Requirement:
    image = mapping(spec.get("image"), where, "spec.image")
    repository = image.get("repository")
    if not isinstance(repository, str) or not repository.strip():
        raise RequirementError(f"{where}: spec.image.repository: missing")
    env = env_values(spec.get("env"), where, "spec.env")
    storage = mapping(spec.get("storage") or {}, where, "spec.storage")
    cache = mapping(storage.get("nimCache") or {}, where, "spec.storage.nimCache")
    profile = cache.get("profile") or env.get("NIM_MODEL_PROFILE")
    if profile is not None and not isinstance(profile, str):
        raise RequirementError(f"{where}: spec.storage.nimCache.profile: must be a string")
    annotations = {
        **string_map(metadata.get("annotations"), where, "metadata.annotations"),
        **string_map(spec.get("annotations"), where, "spec.annotations"),
    }
    resources = mapping(spec.get("resources") or {}, where, "spec.resources")
    gpus, mig_profile = resource_request(resources, where, "spec.resources")
    tp = int_env(env, "NIM_TENSOR_PARALLEL_SIZE", where, "spec")
    tp_from = "spec.env NIM_TENSOR_PARALLEL_SIZE"
    pp = int_env(env, "NIM_PIPELINE_PARALLEL_SIZE", where, "spec")
    pp_from = "spec.env NIM_PIPELINE_PARALLEL_SIZE"
    multi = spec.get("multiNode")
    if multi is not None:
        parallelism = mapping(
            mapping(multi, where, "spec.multiNode").get("parallelism"), where, "spec.multiNode.parallelism"
        )
        tp = positive(parallelism.get("tensor"), where, "spec.multiNode.parallelism.tensor")
        tp_from = "spec.multiNode.parallelism.tensor"
        pp = positive(parallelism.get("pipeline", 1), where, "spec.multiNode.parallelism.pipeline")
        pp_from = "spec.multiNode.parallelism.pipeline"
    parsed = parse_profile(profile) if profile else None
    claimed = nimservice_claims(spec, where) if gpus is None else None
    if claimed is not None:
        # With draResources the operator assigns no nvidia.com/gpu: the claims decide the count.
        gpus = _claimed_count(claimed, tp is not None or bool(parsed and parsed.tp), where)
    elif gpus is None:
        # The operator sets the GPU count itself from the profile's tp (multi-node: tensor per pod).
        gpus = tp if multi is not None else (parsed.tp if parsed and parsed.tp else None)
        if gpus is None:
            raise RequirementError(
                f"{where}: spec.resources: no {GPU_RESOURCE} and no profile to derive it from: the pod "
                "would get no GPU"
            )
    requirement = build(
        where,
        names=[repository],
        catalog=catalog,
        declared=declared_params(annotations, where, "annotations"),
        declared_source="annotation",
        precision=annotated_precision(annotations, where, "annotations"),
        precision_from=f"annotation {ANNOTATION_PRECISION}",
        profile_name=profile or None,
        tp=tp,
        tp_from=tp_from,
        pp=pp,
        pp_from=pp_from,
        gpus=gpus,
        single_node=multi is None,
        source="NIMService",
        context=int_env(env, MAX_MODEL_LEN_ENV, where, "spec", MAX_CONTEXT),
        context_from=f"spec.env {MAX_MODEL_LEN_ENV}",
        mig_profile=mig_profile,
        nim_version=nim_version(str(image["tag"]) if image.get("tag") is not None else image_tag(repository)),
        gpus_from=GPU_RESOURCE if claimed is None else "GPUs through spec.draResources",
    )
    return requirement if claimed is None else with_claims(requirement, claimed)


def _claimed_count(claimed: ClaimedGpus, tp_fixed: bool, where: str) -> int | None:
    """The GPU count a NIMService's claims give (None: the least its layout needs, when only a claim object
    the manifest does not hold knows it and the TP is fixed)."""
    if claimed.mode == "count":
        if not claimed.count:
            raise NoGpuRequested(f"{where}: spec.draResources: no device of class {GPU_CLASS}: no GPU")
        return claimed.count
    if not tp_fixed:
        raise RequirementError(
            f"{where}: spec.draResources: {claimed.unknown[0]}; and no profile or NIM_TENSOR_PARALLEL_SIZE "
            "says how many GPUs the model runs on"
        )
    return None


def _from_nimcache(
    spec: Mapping[str, Any], metadata: Mapping[str, Any], where: str, catalog: Catalog
) -> Requirement:
    source = mapping(spec.get("source"), where, "spec.source")
    kinds = [k for k in ("ngc", "hf", "dataStore") if source.get(k) is not None]
    if len(kinds) != 1:
        raise RequirementError(f"{where}: spec.source: needs exactly one of ngc, hf, dataStore")
    kind = kinds[0]
    body = mapping(source[kind], where, f"spec.source.{kind}")
    if kind == "ngc":
        puller = body.get("modelPuller")
        if not isinstance(puller, str) or not puller.strip():
            raise RequirementError(f"{where}: spec.source.ngc.modelPuller: missing")
        names = [puller]
        model: Mapping[str, Any] = mapping(body.get("model") or {}, where, "spec.source.ngc.model")
    else:
        if body.get("datasetName"):
            raise RequirementError(f"{where}: spec.source.{kind}: caches a dataset, not a model")
        model_name = body.get("modelName")
        if not isinstance(model_name, str) or not model_name.strip():
            raise RequirementError(f"{where}: spec.source.{kind}.modelName: missing")
        namespace = body.get("namespace")
        names = [f"{namespace}/{model_name}" if isinstance(namespace, str) and namespace else model_name]
        model = {}
    base = f"spec.source.{kind}.model"
    raw_tp = model.get("tensorParallelism")
    tp = positive(raw_tp, where, f"{base}.tensorParallelism") if raw_tp not in (None, "") else None
    profiles = model.get("profiles") or []
    if not isinstance(profiles, list):
        raise RequirementError(f"{where}: {base}.profiles: must be a list")
    profile = profiles[0] if len(profiles) == 1 and profiles[0] != "all" else None
    wanted_gpus = model.get("gpus") or []
    if not isinstance(wanted_gpus, list):
        raise RequirementError(f"{where}: {base}.gpus: must be a list")
    products = {
        gpu_models.product(str(mapping(g, where, f"{base}.gpus[{i}]").get("product") or ""))
        for i, g in enumerate(wanted_gpus)
    } - {""}
    raw_precision = model.get("precision")
    annotations = string_map(metadata.get("annotations"), where, "metadata.annotations")
    return build(
        where,
        names=names,
        catalog=catalog,
        declared=declared_params(annotations, where, "metadata.annotations"),
        declared_source="annotation",
        precision=parse_precision(str(raw_precision), where, f"{base}.precision") if raw_precision else None,
        precision_from=f"{base}.precision",
        profile_name=str(profile) if profile else None,
        tp=tp,
        tp_from=f"{base}.tensorParallelism",
        pp=None,
        pp_from="pp",
        gpus=None,
        single_node=True,
        source="NIMCache",
        profile_gpu=products.pop() if len(products) == 1 else None,
        nim_version=nim_version(image_tag(names[0])) if kind == "ngc" else None,
    )
