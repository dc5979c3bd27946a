"""What a NIM model needs from a node, from a model name, a pod spec, or a NIMService/NIMCache manifest.

Rules shared by every source:
- Size: a declared size (`nimdoctor.io/model-params`, or `params_b`) > the model catalog > a size in the
  name. None of these: `params_b` is None and `fit` reports the model as unknown; nothing is guessed.
- Precision: what the request says (`--precision`, annotation `nimdoctor.io/precision`, NIMCache
  `spec.model.precision`) or the profile's; both given and different is an error. Else the catalog's
  published precision (DeepSeek R1: fp8). Else what NIM itself would choose: fp8 on GPUs of compute
  capability 8.9 and newer when NVIDIA ships the model in fp8, else bf16 (`precision_auto`: `fit` decides
  per node, see `variants`).
- Tensor parallel: what the request says (`--tp`, `NIM_TENSOR_PARALLEL_SIZE`, `multiNode.parallelism.tensor`)
  or the profile's (a contradiction is an error); else, for a pod, its `nvidia.com/gpu` count (a pod cannot
  change its GPU count at bind time); else 1 (`place` chooses TP for a bare model name).
- Layout: one node holds TP x PP GPUs; a multi-node LeaderWorkerSet (pipeline > 1 on a model name, an LWS
  pod, a NIMService with `multiNode`) holds TP GPUs per pod and PP pods, one per node.
- Memory (`memory`): weights + KV cache for one sequence at the maximum context + runtime overhead, per
  GPU; the context is the catalog's default unless `NIM_MAX_MODEL_LEN` (or `--max-model-len`) sets it.
- MIG: a pod that requests `nvidia.com/mig-<profile>` needs that MIG device, not a whole GPU.
- Open files: from NIM-FIT-005's `largeModelParamsB` (49) on, `minNofile` (65536).
- Cache PVC: the larger of the field guide's table and NVIDIA's 4 x billions-of-parameters GB (below).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from nimdoctor import gpus as gpu_models
from nimdoctor.catalog import Catalog
from nimdoctor.placement import precision as precisions
from nimdoctor.placement.errors import RequirementError
from nimdoctor.placement.memory import kv_bytes_per_token, per_gpu_need
from nimdoctor.placement.models import ModelSize, parse_params, resolve
from nimdoctor.placement.profiles import Profile, parse_profile
from nimdoctor.placement.settings import settings
from nimdoctor.report import Requirement, ShippedTp

ANNOTATION_PARAMS = "nimdoctor.io/model-params"
ANNOTATION_PRECISION = "nimdoctor.io/precision"
GPU_RESOURCE = "nvidia.com/gpu"
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"
MAX_MODEL_LEN_ENV = "NIM_MAX_MODEL_LEN"
_MIG_PROFILE = re.compile(r"^(?:\d+c\.)?\d+g\.\d+gb(?:\+me)?$")
NIM_REGISTRY_PREFIX = "nvcr.io/nim/"

# [SEED] The field guide's cache PVC sizes by model size ("planning starting points"): up to 8B ~50 GB,
# 13-34B 80-120 GB, 70B ~150 GB, 100B and above 400 GB and up. Rows here take the upper figure and cover the
# gaps with the next row up; a bound of 9 keeps 8.03B in the "8B" row, 75 keeps 70.6B in the "70B" row.
SEED_CACHE_GB: tuple[tuple[float, float], ...] = ((9, 50), (35, 120), (75, 150), (math.inf, 400))
# [NVIDIA] "vLLM runtime and a model take up about 4X the billions of parameters in GB" (NIM LLM 1.1.0).
GENERIC_CACHE_GB_PER_B = 4.0


def cache_pvc_bytes(params_b: float) -> int:
    """Recommended model cache PVC size: max(seed table, 4 x billions of parameters GB), in bytes."""
    seed = next(gb for bound, gb in SEED_CACHE_GB if params_b <= bound)
    return math.ceil(max(seed, GENERIC_CACHE_GB_PER_B * params_b) * 1e9)


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
) -> Requirement:
    """The requirement of a model given by name (CLI `--model`), with optional overrides.

    `tp` defaults to the profile's, else `gpus / pp`, else 1; `place` searches TP when none is given.
    `pp` > 1 means a multi-node layout (one pipeline stage per node, `tp` GPUs per pod), as the NIM
    Operator deploys it. `params_b` declares the size in billions, as the annotation does for a pod;
    `max_model_len` replaces the default context (as NIM_MAX_MODEL_LEN does); `mig` asks for MIG devices
    of that profile (`3g.40gb`) instead of whole GPUs.
    """
    where = f"model {name!r}"
    for label, value in (("tp", tp), ("pp", pp), ("gpus", gpus), ("max-model-len", max_model_len)):
        if value is not None:
            _positive(value, where, label)
    if params_b is not None and not (math.isfinite(params_b) and params_b > 0):
        raise RequirementError(f"{where}: params: {params_b!r} is not a positive number of billions")
    return _build(
        where,
        names=[name],
        catalog=catalog,
        declared=params_b,
        declared_source="declared",
        precision=_precision(precision, where, "precision") if precision is not None else None,
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
        mig_profile=_mig_profile(mig, where, "mig") if mig is not None else None,
    )


def requirement_from_pod(pod: Mapping[str, Any], catalog: Catalog) -> Requirement:
    """The requirement of a NIM pod as the scheduler extender sees it (a Pod object as a dict).

    Reads the NIM container's image and env (`NIM_MODEL_PROFILE`, `NIM_TENSOR_PARALLEL_SIZE`,
    `NIM_PIPELINE_PARALLEL_SIZE`, `NIM_MAX_MODEL_LEN`, `NIM_MODEL_PATH`), the pod's `nvidia.com/gpu` (or
    `nvidia.com/mig-<profile>`) count, the NIM Operator's labels (LeaderWorkerSet leaders and workers are
    multi-node) and the annotations `nimdoctor.io/model-params` and `nimdoctor.io/precision`. Raises
    `RequirementError` on malformed input.
    """
    pod = _mapping(pod, "pod", "")
    metadata = _mapping(pod.get("metadata") or {}, "pod", "metadata")
    where = f"pod {_object_name(metadata)}"
    spec = _mapping(pod.get("spec"), where, "spec")
    containers = _containers(spec, "containers", where, required=True)
    init_containers = _containers(spec, "initContainers", where, required=False)
    requests = [_device_request(c, f"spec.containers[{i}]", where) for i, c in enumerate(containers)]
    init_requests = [
        _device_request(c, f"spec.initContainers[{i}]", where) for i, c in enumerate(init_containers)
    ]
    counts = [count for count, _ in requests]
    if not any(counts):
        raise RequirementError(
            f"{where}: no container requests {GPU_RESOURCE} or a {MIG_RESOURCE_PREFIX}<profile> device: "
            "not a GPU inference pod"
        )
    # The scheduler's view: app containers run together, init containers one at a time.
    pod_gpus = max(sum(c or 0 for c in counts), max((c or 0 for c, _ in init_requests), default=0))
    index = _nim_container(containers, counts)
    mig_profile = requests[index][1]
    container = containers[index]
    path = f"spec.containers[{index}]"
    env = _env(container.get("env"), where, f"{path}.env")
    image = container.get("image")
    if not isinstance(image, str) or not image.strip():
        raise RequirementError(f"{where}: {path}.image: missing")
    annotations = _string_map(metadata.get("annotations"), where, "metadata.annotations")
    multi_node = pod_role(pod) in ("leader", "worker") or env.get("NIM_MULTI_NODE") == "1"
    env_tp = _int_env(env, "NIM_TENSOR_PARALLEL_SIZE", where, path)
    env_pp = _int_env(env, "NIM_PIPELINE_PARALLEL_SIZE", where, path)
    return _build(
        where,
        names=_model_names(image, env),
        catalog=catalog,
        declared=_declared(annotations, where, "metadata.annotations"),
        declared_source="annotation",
        precision=_annotated_precision(annotations, where, "metadata.annotations"),
        precision_from=f"annotation {ANNOTATION_PRECISION}",
        profile_name=env.get("NIM_MODEL_PROFILE"),
        tp=env_tp,
        tp_from=f"{path}.env NIM_TENSOR_PARALLEL_SIZE",
        pp=env_pp,
        pp_from=f"{path}.env NIM_PIPELINE_PARALLEL_SIZE",
        gpus=pod_gpus,
        single_node=not multi_node,
        source="pod",
        context=_int_env(env, MAX_MODEL_LEN_ENV, where, path),
        context_from=f"{path}.env {MAX_MODEL_LEN_ENV}",
        mig_profile=mig_profile,
    )


def requirement_from_manifest(doc: Mapping[str, Any], catalog: Catalog) -> Requirement:
    """The requirement of a NIMService or NIMCache manifest (`apps.nvidia.com/v1alpha1`, as a dict).

    NIMService: `spec.image.repository`, `spec.resources` `nvidia.com/gpu`, `spec.storage.nimCache.profile`,
    `spec.env`, `spec.multiNode.parallelism` (tensor per pod, pipeline pods), annotations in `metadata` or
    `spec.annotations`. NIMCache: the NGC `modelPuller` image (or the HF / DataStore model name) and the
    `spec.source.*.model` filters (precision, tensorParallelism, profiles, gpus).
    """
    doc = _mapping(doc, "manifest", "")
    kind = doc.get("kind")
    metadata = _mapping(doc.get("metadata") or {}, f"{kind}", "metadata")
    where = f"{kind} {_object_name(metadata)}"
    spec = _mapping(doc.get("spec"), where, "spec")
    if kind == "NIMService":
        return _from_nimservice(spec, metadata, where, catalog)
    if kind == "NIMCache":
        return _from_nimcache(spec, metadata, where, catalog)
    raise RequirementError(
        f"{where}: kind must be NIMService or NIMCache (a NIMPipeline: requirements_from_manifest)"
    )


def requirements_from_manifest(doc: Mapping[str, Any], catalog: Catalog) -> list[Requirement]:
    """Requirements of a NIMService, a NIMCache, or each enabled service of a NIMPipeline."""
    doc = _mapping(doc, "manifest", "")
    if doc.get("kind") != "NIMPipeline":
        return [requirement_from_manifest(doc, catalog)]
    metadata = _mapping(doc.get("metadata") or {}, "NIMPipeline", "metadata")
    where = f"NIMPipeline {_object_name(metadata)}"
    spec = _mapping(doc.get("spec"), where, "spec")
    services = spec.get("services")
    if not isinstance(services, list):
        raise RequirementError(f"{where}: spec.services: must be a list")
    result = []
    for index, raw in enumerate(services):
        service = _mapping(raw, where, f"spec.services[{index}]")
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


def pod_role(pod: Mapping[str, Any]) -> str | None:
    """How the NIM Operator made this pod: `standalone`, `leader` or `worker` (multi-node), else `None`.

    Standalone pods and LWS leaders carry `app.kubernetes.io/managed-by=k8s-nim-operator` and
    `app.kubernetes.io/part-of=nim-service` (leaders also `nim-llm-role=leader`); LWS workers carry only
    the LeaderWorkerSet's labels (`leaderworkerset.sigs.k8s.io/name` ending in `-lws`) and a container
    named `nim-worker`.
    """
    metadata = pod.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    if not isinstance(labels, Mapping):
        return None
    if (
        labels.get("app.kubernetes.io/managed-by") == "k8s-nim-operator"
        and labels.get("app.kubernetes.io/part-of") == "nim-service"
    ):
        return "leader" if labels.get("nim-llm-role") == "leader" else "standalone"
    lws = labels.get("leaderworkerset.sigs.k8s.io/name")
    spec = pod.get("spec")
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    if not isinstance(containers, list):
        return None
    names = {c.get("name") for c in containers if isinstance(c, Mapping)}
    if isinstance(lws, str) and lws.endswith("-lws") and "nim-worker" in names:
        return "worker"
    return None


# --- sources -------------------------------------------------------------------------------------------


def _from_nimservice(
    spec: Mapping[str, Any], metadata: Mapping[str, Any], where: str, catalog: Catalog
) -> Requirement:
    image = _mapping(spec.get("image"), where, "spec.image")
    repository = image.get("repository")
    if not isinstance(repository, str) or not repository.strip():
        raise RequirementError(f"{where}: spec.image.repository: missing")
    env = _env(spec.get("env"), where, "spec.env")
    storage = _mapping(spec.get("storage") or {}, where, "spec.storage")
    cache = _mapping(storage.get("nimCache") or {}, where, "spec.storage.nimCache")
    profile = cache.get("profile") or env.get("NIM_MODEL_PROFILE")
    if profile is not None and not isinstance(profile, str):
        raise RequirementError(f"{where}: spec.storage.nimCache.profile: must be a string")
    annotations = {
        **_string_map(metadata.get("annotations"), where, "metadata.annotations"),
        **_string_map(spec.get("annotations"), where, "spec.annotations"),
    }
    resources = _mapping(spec.get("resources") or {}, where, "spec.resources")
    gpus, mig_profile = _resource_request(resources, where, "spec.resources")
    tp = _int_env(env, "NIM_TENSOR_PARALLEL_SIZE", where, "spec")
    tp_from = "spec.env NIM_TENSOR_PARALLEL_SIZE"
    pp = _int_env(env, "NIM_PIPELINE_PARALLEL_SIZE", where, "spec")
    pp_from = "spec.env NIM_PIPELINE_PARALLEL_SIZE"
    multi = spec.get("multiNode")
    if multi is not None:
        parallelism = _mapping(
            _mapping(multi, where, "spec.multiNode").get("parallelism"), where, "spec.multiNode.parallelism"
        )
        tp = _positive(parallelism.get("tensor"), where, "spec.multiNode.parallelism.tensor")
        tp_from = "spec.multiNode.parallelism.tensor"
        pp = _positive(parallelism.get("pipeline", 1), where, "spec.multiNode.parallelism.pipeline")
        pp_from = "spec.multiNode.parallelism.pipeline"
    parsed = parse_profile(profile) if profile else None
    if gpus is None:
        # The operator sets the GPU count itself from the profile's tp (multi-node: tensor per pod).
        gpus = tp if multi is not None else (parsed.tp if parsed and parsed.tp else None)
    if gpus is None:
        raise RequirementError(
            f"{where}: spec.resources: no {GPU_RESOURCE} and no profile to derive it from: the pod would "
            "get no GPU"
        )
    return _build(
        where,
        names=[repository],
        catalog=catalog,
        declared=_declared(annotations, where, "annotations"),
        declared_source="annotation",
        precision=_annotated_precision(annotations, where, "annotations"),
        precision_from=f"annotation {ANNOTATION_PRECISION}",
        profile_name=profile or None,
        tp=tp,
        tp_from=tp_from,
        pp=pp,
        pp_from=pp_from,
        gpus=gpus,
        single_node=multi is None,
        source="NIMService",
        context=_int_env(env, MAX_MODEL_LEN_ENV, where, "spec"),
        context_from=f"spec.env {MAX_MODEL_LEN_ENV}",
        mig_profile=mig_profile,
    )


def _from_nimcache(
    spec: Mapping[str, Any], metadata: Mapping[str, Any], where: str, catalog: Catalog
) -> Requirement:
    source = _mapping(spec.get("source"), where, "spec.source")
    kinds = [k for k in ("ngc", "hf", "dataStore") if source.get(k) is not None]
    if len(kinds) != 1:
        raise RequirementError(f"{where}: spec.source: needs exactly one of ngc, hf, dataStore")
    kind = kinds[0]
    body = _mapping(source[kind], where, f"spec.source.{kind}")
    if kind == "ngc":
        puller = body.get("modelPuller")
        if not isinstance(puller, str) or not puller.strip():
            raise RequirementError(f"{where}: spec.source.ngc.modelPuller: missing")
        names = [puller]
        model: Mapping[str, Any] = _mapping(body.get("model") or {}, where, "spec.source.ngc.model")
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
    tp = _positive(raw_tp, where, f"{base}.tensorParallelism") if raw_tp not in (None, "") else None
    profiles = model.get("profiles") or []
    if not isinstance(profiles, list):
        raise RequirementError(f"{where}: {base}.profiles: must be a list")
    profile = profiles[0] if len(profiles) == 1 and profiles[0] != "all" else None
    wanted_gpus = model.get("gpus") or []
    if not isinstance(wanted_gpus, list):
        raise RequirementError(f"{where}: {base}.gpus: must be a list")
    products = {
        gpu_models.product(str(_mapping(g, where, f"{base}.gpus[{i}]").get("product") or ""))
        for i, g in enumerate(wanted_gpus)
    } - {""}
    raw_precision = model.get("precision")
    annotations = _string_map(metadata.get("annotations"), where, "metadata.annotations")
    return _build(
        where,
        names=names,
        catalog=catalog,
        declared=_declared(annotations, where, "metadata.annotations"),
        declared_source="annotation",
        precision=_precision(str(raw_precision), where, f"{base}.precision") if raw_precision else None,
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
    )


# --- the one builder -----------------------------------------------------------------------------------


def _build(
    where: str,
    *,
    names: Sequence[str],
    catalog: Catalog,
    declared: float | None,
    declared_source: str,
    precision: str | None,
    precision_from: str,
    profile_name: str | None,
    tp: int | None,
    tp_from: str,
    pp: int | None,
    pp_from: str,
    gpus: int | None,
    single_node: bool | None,
    source: str,
    profile_gpu: str | None = None,
    context: int | None = None,
    context_from: str | None = None,
    mig_profile: str | None = None,
) -> Requirement:
    limits = settings(catalog)
    try:
        size = resolve(names, catalog, declared=declared, declared_source=declared_source)
    except ValueError as exc:
        raise RequirementError(f"{where}: {exc}") from None
    profile = parse_profile(profile_name) if profile_name else None
    chosen_precision = _agree(where, precision, precision_from, profile, "precision")
    tensor = _agree(where, tp, tp_from, profile, "tp")
    stages = _agree(where, pp, pp_from, profile, "pp") or 1
    _positive(stages, where, "pipeline-parallel size")
    if single_node is None:  # a model name: pipeline stages are nodes, as the NIM Operator deploys them
        single_node = stages == 1
    if tensor is None:
        tensor = gpus // stages if gpus and single_node and gpus % stages == 0 else (gpus or 1)
    _positive(tensor, where, "tensor-parallel size")
    per_pod = tensor * stages if single_node else tensor
    if gpus is None:
        gpus = per_pod
    elif gpus < per_pod:
        layout = f"tensor {tensor} x pipeline {stages}" if single_node else f"tensor {tensor} per pod"
        raise RequirementError(
            f"{where}: requests {gpus} {GPU_RESOURCE} but {layout} needs {per_pod}: NIM fails at start"
        )
    if chosen_precision is not None:
        from_request = precision is not None
        precision_source = "request" if from_request else "profile"
        reason = f"as {precision_from} says" if from_request else f"as profile {profile_name} says"
        final_precision = chosen_precision
    else:
        final_precision, precision_source, reason = _default_precision(size)
    bytes_per_param = precisions.BYTES_PER_PARAM[final_precision]
    arch = size.entry.architecture if size.entry is not None else None
    kv_per_token: int | None = None
    context_source = None
    if size.kind in ("embedding", "reranker"):
        kv_per_token, context = 0, None  # encoders keep no KV cache between requests
    elif arch is not None:
        kv_per_token = kv_bytes_per_token(arch, limits)
        context_source = context_from if context is not None else "catalog"
        context = context or arch.max_context
    else:
        context_source = context_from if context is not None else None
    memory = min_nofile = pvc = None
    if size.params_b is not None:
        memory = per_gpu_need(size.params_b, bytes_per_param, tensor * stages, kv_per_token, context, limits)
        min_nofile = limits.min_nofile if size.params_b >= limits.large_model_params_b else None
        pvc = cache_pvc_bytes(size.params_b)
    return Requirement(
        model=size.name,
        params_b=size.params_b,
        params_source=size.source,
        params_upper_bound=size.upper_bound,
        kind=size.kind,
        precision=final_precision,
        precision_source=precision_source,
        precision_reason=reason,
        precision_auto=precision_source == "nim-default",
        bytes_per_param=bytes_per_param,
        tensor_parallel=tensor,
        pipeline_parallel=stages,
        gpus=gpus,
        attention_heads=arch.attention_heads if arch is not None else None,
        max_context=context,
        context_source=context_source,
        kv_bytes_per_token=kv_per_token,
        weights_per_gpu_bytes=memory.weights if memory else None,
        kv_cache_per_gpu_bytes=memory.kv_cache if memory else None,
        overhead_per_gpu_bytes=memory.overhead if memory else None,
        gpu_memory_need_bytes=memory.total if memory else None,
        min_gpu_memory_bytes=memory.minimum_gpu if memory else None,
        # Advised everywhere for TP > 1; fit makes it a hard requirement on vGPU (NIM-FIT-003/004).
        nvlink="advised" if tensor > 1 else "none",
        min_nofile=min_nofile,
        single_node=single_node,
        profile=profile_name or None,
        profile_gpu=profile_gpu or (profile.gpu if profile else None),
        shipped=_shipped(size),
        mig_profile=mig_profile,
        cache_pvc_bytes=pvc,
        source=source,
    )


def _default_precision(size: ModelSize) -> tuple[str, str, str]:
    """(precision, source, reason) when neither the request nor a profile names one."""
    if size.precision is not None:
        return size.precision, "published", f"{size.precision}: the weights are published in {size.precision}"
    if precisions.FP8 in _shipped_precisions(size):
        # NIM picks fp8 where the GPU has fp8 tensor cores; `variants.for_node` decides it per node.
        reason = "bf16 until a node's GPU is known: NIM picks fp8 on compute capability 8.9 and newer"
        return precisions.DEFAULT, "nim-default", reason
    why = "NVIDIA ships no fp8 profile of this model" if size.entry else "the model is not in the catalog"
    return precisions.DEFAULT, "default", f"{precisions.DEFAULT}: {why}"


def _shipped_precisions(size: ModelSize) -> set[str]:
    entry = size.entry
    if entry is None:
        return set()
    shipped = {p.precision for p in entry.shipped.profiles} if entry.shipped else set()
    return shipped | set(entry.precisions)


def _shipped(size: ModelSize) -> tuple[ShippedTp, ...]:
    entry = size.entry
    if entry is None or entry.shipped is None:
        return ()
    return tuple(
        ShippedTp(gpu=p.gpu, precision=p.precision, tp=tuple(sorted(p.tp)), pp=p.pp)
        for p in entry.shipped.profiles
    )


def _agree(where: str, given: Any, given_from: str, profile: Profile | None, field: str) -> Any:
    """The request's value or the profile's; both present and different is a contradiction."""
    if profile is None:
        return given
    from_profile = getattr(profile, field)
    if given is not None and from_profile is not None and given != from_profile:
        raise RequirementError(
            f"{where}: {given_from} says {given} but profile {profile.name!r} says {field} {from_profile}"
        )
    return given if given is not None else from_profile


# --- small readers -------------------------------------------------------------------------------------


def _object_name(metadata: Mapping[str, Any]) -> str:
    name = metadata.get("name") or metadata.get("generateName") or "<unnamed>"
    namespace = metadata.get("namespace")
    return f"{namespace}/{name}" if namespace else str(name)


def _mapping(value: Any, where: str, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        label = f"{where}: {path}" if path else where
        got = "nothing" if value is None else type(value).__name__
        raise RequirementError(f"{label}: expected a mapping, got {got}")
    return value


def _containers(spec: Mapping[str, Any], key: str, where: str, *, required: bool) -> list[Mapping[str, Any]]:
    raw = spec.get(key)
    if raw is None and not required:
        return []
    if not isinstance(raw, list) or (required and not raw):
        raise RequirementError(f"{where}: spec.{key}: must be a non-empty list")
    return [_mapping(c, where, f"spec.{key}[{i}]") for i, c in enumerate(raw)]


def _whole(value: Any) -> int | None:
    """An int, or a string of digits (YAML and env values are often strings); `None` for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _positive(value: Any, where: str, path: str) -> int:
    number = _whole(value)
    if number is None or number < 1:
        raise RequirementError(f"{where}: {path}: {value!r} is not a positive integer")
    return number


def _quantity(value: Any, where: str, path: str) -> int:
    number = _whole(value)
    if number is None or number < 0:
        raise RequirementError(f"{where}: {path}: {value!r} is not a whole number of GPUs")
    return number


def _resource_request(resources: Mapping[str, Any], where: str, path: str) -> tuple[int | None, str | None]:
    """(count, MIG profile) of the GPU devices requested: `nvidia.com/gpu`, or one `nvidia.com/mig-<p>`.

    From limits, else requests (extended resources: requests default to limits). `(None, None)`: none.
    """
    for part in ("limits", "requests"):
        values = resources.get(part)
        if values is None:
            continue
        values = _mapping(values, where, f"{path}.{part}")
        migs = sorted(str(k) for k in values if str(k).startswith(MIG_RESOURCE_PREFIX))
        if GPU_RESOURCE in values and migs:
            raise RequirementError(
                f"{where}: {path}.{part}: requests both {GPU_RESOURCE} and {migs[0]}: a NIM runs on one kind"
            )
        if len(migs) > 1:
            several = ", ".join(migs)
            raise RequirementError(f"{where}: {path}.{part}: requests several MIG profiles: {several}")
        if GPU_RESOURCE in values:
            return _quantity(values[GPU_RESOURCE], where, f"{path}.{part}[{GPU_RESOURCE}]"), None
        if migs:
            count = _quantity(values[migs[0]], where, f"{path}.{part}[{migs[0]}]")
            return count, _mig_profile(migs[0].removeprefix(MIG_RESOURCE_PREFIX), where, f"{path}.{part}")
    return None, None


def _device_request(container: Mapping[str, Any], path: str, where: str) -> tuple[int | None, str | None]:
    resources = _mapping(container.get("resources") or {}, where, f"{path}.resources")
    return _resource_request(resources, where, f"{path}.resources")


def _mig_profile(raw: str, where: str, path: str) -> str:
    """A MIG profile name as GPU Feature Discovery writes it: `[<c>c.]<g>g.<gb>gb[+me]`."""
    text = raw.strip().lower()
    if not _MIG_PROFILE.match(text):
        raise RequirementError(f"{where}: {path}: {raw!r} is not a MIG profile (like 3g.40gb)")
    return text


def _nim_container(containers: Sequence[Mapping[str, Any]], counts: Sequence[int | None]) -> int:
    """The NIM container: a GPU container with an nvcr.io/nim image, else the first GPU container.

    At least one container requests GPUs (the caller checked).
    """
    with_gpus = [i for i, count in enumerate(counts) if count]
    nim = [i for i in with_gpus if str(containers[i].get("image", "")).startswith(NIM_REGISTRY_PREFIX)]
    return (nim or with_gpus)[0]


def _env(raw: Any, where: str, path: str) -> dict[str, str]:
    """Plain `name`/`value` pairs; entries taken from a Secret or ConfigMap (`valueFrom`) are left out."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise RequirementError(f"{where}: {path}: must be a list")
    env: dict[str, str] = {}
    for index, item in enumerate(raw):
        entry = _mapping(item, where, f"{path}[{index}]")
        name = entry.get("name")
        if not isinstance(name, str):
            raise RequirementError(f"{where}: {path}[{index}].name: missing")
        value = entry.get("value")
        if isinstance(value, str | int) and not isinstance(value, bool):
            env[name] = str(value)
    return env


def _int_env(env: Mapping[str, str], name: str, where: str, path: str) -> int | None:
    value = env.get(name, "")
    return _positive(value, where, f"{path} env {name}") if value.strip() else None


def _string_map(raw: Any, where: str, path: str) -> dict[str, str]:
    if raw is None:
        return {}
    values = _mapping(raw, where, path)
    return {str(k): str(v) for k, v in values.items() if v is not None}


def _declared(annotations: Mapping[str, str], where: str, path: str) -> float | None:
    raw = annotations.get(ANNOTATION_PARAMS)
    if raw is None:
        return None
    try:
        return parse_params(raw)
    except ValueError as exc:
        raise RequirementError(f"{where}: {path} {ANNOTATION_PARAMS}: {exc}") from None


def _precision(raw: str, where: str, path: str) -> str:
    canonical = precisions.canonical(raw)
    if canonical is None:
        raise RequirementError(f"{where}: {path}: unknown precision {raw!r} (known: {precisions.known()})")
    return canonical


def _annotated_precision(annotations: Mapping[str, str], where: str, path: str) -> str | None:
    raw = annotations.get(ANNOTATION_PRECISION)
    return _precision(raw, where, f"{path} {ANNOTATION_PRECISION}") if raw is not None else None


def _model_names(image: str, env: Mapping[str, str]) -> list[str]:
    """The image path first; a multi-LLM NIM names its model in NIM_MODEL_PATH / NIM_MODEL_NAME."""
    names = [image]
    for key in ("NIM_MODEL_PATH", "NIM_MODEL_NAME"):
        value = env.get(key, "").strip()
        if value and not value.startswith("/"):
            names.append(value)
    return names
