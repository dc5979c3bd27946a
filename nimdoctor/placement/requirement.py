"""What a NIM model needs, from a model name or a pod spec: the public entry of requirement reading.

The rules every source shares are in `assemble`; NIMService/NIMCache/NIMPipeline reading is in
`nim_resources`, the field readers in `pod_fields` and `model_names`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from nimdoctor.catalog import Catalog
from nimdoctor.placement.assemble import build, cache_pvc_bytes
from nimdoctor.placement.claim_specs import GPU_CLASS
from nimdoctor.placement.dra import (
    ClaimedGpus,
    ClaimLookup,
    claimed_container,
    gpu_count,
    with_claims,
)
from nimdoctor.placement.errors import NoGpuRequested, RequirementError
from nimdoctor.placement.model_names import (
    ANNOTATION_PARAMS,
    declared_params,
    image_tag,
    model_names,
    nim_version,
    requested_nim_version,
)
from nimdoctor.placement.nim_resources import requirement_from_manifest, requirements_from_manifest
from nimdoctor.placement.pod_fields import (
    ANNOTATION_PRECISION,
    GPU_RESOURCE,
    MAX_CONTEXT,
    MAX_DEVICES,
    MAX_MODEL_LEN_ENV,
    MIG_RESOURCE_PREFIX,
    annotated_precision,
    containers_of,
    device_request,
    env_values,
    int_env,
    mapping,
    nim_container,
    object_name,
    parse_mig_profile,
    parse_precision,
    pod_role,
    positive,
    string_map,
)
from nimdoctor.placement.profiles import parse_profile
from nimdoctor.report import Requirement

__all__ = [
    "ANNOTATION_PARAMS",
    "ANNOTATION_PRECISION",
    "GPU_RESOURCE",
    "MAX_MODEL_LEN_ENV",
    "MIG_RESOURCE_PREFIX",
    "cache_pvc_bytes",
    "pod_role",
    "requirement_from_manifest",
    "requirement_from_model",
    "requirement_from_pod",
    "requirements_from_manifest",
]


def requirement_from_model(
    name: str,
    catalog: Catalog,
    *,
    precision: str | None = None,
    tp: int | None = None,
    pp: int | None = None,
    gpus: int | None = None,
    profile: str | None = None,
    params_b: float | None = None,
    max_model_len: int | None = None,
    mig: str | None = None,
    version: str | None = None,
) -> Requirement:
    """The requirement of a model given by name (CLI `--model`), with optional overrides.

    `tp` defaults to the profile's, else `gpus / pp`, else 1; `place` searches TP when none is given.
    `pp` > 1 means a multi-node layout (one pipeline stage per node, `tp` GPUs per pod), as the NIM
    Operator deploys it. `params_b` declares the size in billions, as the annotation does for a pod;
    `max_model_len` replaces the default context (as NIM_MAX_MODEL_LEN does); `mig` asks for MIG devices
    of that profile (`3g.40gb`) instead of whole GPUs; `version` is the NIM release (`--nim-version`),
    else the one an image tag in `name` carries.
    """
    where = f"model {name!r}"
    for label, value, high in (
        ("tp", tp, MAX_DEVICES),
        ("pp", pp, MAX_DEVICES),
        ("gpus", gpus, MAX_DEVICES),
        ("max-model-len", max_model_len, MAX_CONTEXT),
    ):
        if value is not None:
            positive(value, where, label, high)
    if params_b is not None and not (math.isfinite(params_b) and params_b > 0):
        raise RequirementError(f"{where}: params: {params_b!r} is not a positive number of billions")
    return build(
        where,
        names=[name],
        catalog=catalog,
        declared=params_b,
        declared_source="declared",
        precision=parse_precision(precision, where, "precision") if precision is not None else None,
        precision_from="precision",
        profile_name=profile,
        tp=tp,
        tp_from="tp",
        pp=pp,
        pp_from="pp",
        gpus=gpus,
        single_node=None,
        source="name",
        context=max_model_len,
        context_from="--max-model-len",
        mig_profile=parse_mig_profile(mig, where, "mig") if mig is not None else None,
        nim_version=(
            requested_nim_version(version, where, "nim-version")
            if version is not None
            else nim_version(image_tag(name))
        ),
    )


def requirement_from_pod(
    pod: Mapping[str, Any],
    catalog: Catalog,
    *,
    claims: ClaimLookup | None = None,
    node_gpus: int | None = None,
) -> Requirement:
    """The requirement of a NIM pod as the scheduler extender sees it (a Pod object as a dict).

    Reads the NIM container's image and env (`NIM_MODEL_PROFILE`, `NIM_TENSOR_PARALLEL_SIZE`,
    `NIM_PIPELINE_PARALLEL_SIZE`, `NIM_MAX_MODEL_LEN`, `NIM_MODEL_PATH`), the pod's `nvidia.com/gpu` (or
    `nvidia.com/mig-<profile>`) count, the NIM Operator's labels (LeaderWorkerSet leaders and workers are
    multi-node) and the annotations `nimdoctor.io/model-params` and `nimdoctor.io/precision`.

    A pod without either takes its GPUs from DRA resource claims (`dra`): the NIM container's
    `resources.claims`, counted through `claims` (the ResourceClaimTemplates and ResourceClaims seen). Where
    that count depends on the node (`allocationMode: All`) or is unknown (a claim not seen), `node_gpus` is
    what one node offers: All takes them all, an unknown count at most them; without it the requirement
    holds the least the pod's layout needs. The requirement's `claims` says which case it is.

    Raises `NoGpuRequested` for a pod that asks for no GPU, `RequirementError` on malformed input.
    """
    pod = mapping(pod, "pod", "")
    metadata = mapping(pod.get("metadata") or {}, "pod", "metadata")
    where = f"pod {object_name(metadata)}"
    spec = mapping(pod.get("spec"), where, "spec")
    containers = containers_of(spec, "containers", where, required=True)
    init_containers = containers_of(spec, "initContainers", where, required=False)
    requests = [device_request(c, f"spec.containers[{i}]", where) for i, c in enumerate(containers)]
    init_requests = [
        device_request(c, f"spec.initContainers[{i}]", where) for i, c in enumerate(init_containers)
    ]
    counts = [count for count, _ in requests]
    claimed: ClaimedGpus | None = None
    gpus: int | None
    if any(counts):
        # The scheduler's view: app containers run together, init containers one at a time.
        gpus = max(sum(c or 0 for c in counts), max((c or 0 for c, _ in init_requests), default=0))
        index = nim_container(containers, counts)
    else:
        found = claimed_container(
            spec, containers, str(metadata.get("namespace") or "default"), claims, where
        )
        if found is None or (found[1].mode == "count" and not found[1].count):
            raise NoGpuRequested(
                f"{where}: no container requests {GPU_RESOURCE}, a {MIG_RESOURCE_PREFIX}<profile> device "
                f"or a GPU through a resource claim (device class {GPU_CLASS}): not a GPU inference pod"
            )
        index, claimed = found
    mig_profile = requests[index][1]
    container = containers[index]
    path = f"spec.containers[{index}]"
    env = env_values(container.get("env"), where, f"{path}.env")
    image = container.get("image")
    if not isinstance(image, str) or not image.strip():
        raise RequirementError(f"{where}: {path}.image: missing")
    annotations = string_map(metadata.get("annotations"), where, "metadata.annotations")
    multi_node = pod_role(pod) in ("leader", "worker") or env.get("NIM_MULTI_NODE") == "1"
    env_tp = int_env(env, "NIM_TENSOR_PARALLEL_SIZE", where, path)
    env_pp = int_env(env, "NIM_PIPELINE_PARALLEL_SIZE", where, path)
    profile_name = env.get("NIM_MODEL_PROFILE")
    if claimed is not None:
        profile = parse_profile(profile_name) if profile_name else None
        tp_fixed = env_tp is not None or bool(profile and profile.tp)
        gpus = gpu_count(claimed, node_gpus, tp_fixed=tp_fixed)
    requirement = build(
        where,
        names=model_names(image, env),
        catalog=catalog,
        declared=declared_params(annotations, where, "metadata.annotations"),
        declared_source="annotation",
        precision=annotated_precision(annotations, where, "metadata.annotations"),
        precision_from=f"annotation {ANNOTATION_PRECISION}",
        profile_name=profile_name,
        tp=env_tp,
        tp_from=f"{path}.env NIM_TENSOR_PARALLEL_SIZE",
        pp=env_pp,
        pp_from=f"{path}.env NIM_PIPELINE_PARALLEL_SIZE",
        gpus=gpus,
        single_node=not multi_node,
        source="pod",
        context=int_env(env, MAX_MODEL_LEN_ENV, where, path, MAX_CONTEXT),
        context_from=f"{path}.env {MAX_MODEL_LEN_ENV}",
        mig_profile=mig_profile,
        nim_version=nim_version(image_tag(image)),
        gpus_from=GPU_RESOURCE if claimed is None else "GPUs through its resource claims",
    )
    return requirement if claimed is None else with_claims(requirement, claimed)
