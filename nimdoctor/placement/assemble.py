"""Assembles a Requirement from what a source read: the rules shared by model names, pods and NIM resources.

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
- NIM version: the image tag's (`:1.14.0`; NIMService `spec.image.tag`) or `--nim-version`; it decides the
  engine per node (`variants.engine_for`). None: the newest 1.x data is assumed.
- MIG: a pod that requests `nvidia.com/mig-<profile>` needs that MIG device, not a whole GPU.
- Open files: from NIM-FIT-005's `largeModelParamsB` (49) on, `minNofile` (65536).
- Cache PVC: the larger of the field guide's table and NVIDIA's 4 x billions-of-parameters GB (below).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from nimdoctor.catalog import Catalog
from nimdoctor.placement import precision as precisions
from nimdoctor.placement.errors import RequirementError
from nimdoctor.placement.memory import kv_bytes_per_token, per_gpu_need
from nimdoctor.placement.models import ModelSize, resolve
from nimdoctor.placement.pod_fields import GPU_RESOURCE, positive
from nimdoctor.placement.profiles import Profile, parse_profile
from nimdoctor.placement.settings import settings
from nimdoctor.report import Requirement, ShippedTp

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


def build(
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
    nim_version: str | None = None,
    gpus_from: str = GPU_RESOURCE,
) -> Requirement:
    """The Requirement of what a source read (`where` names it in errors), by the rules of the module doc;
    `RequirementError` when the request contradicts itself or its profile, names no model, or names a near
    miss of a catalog model."""
    limits = settings(catalog)
    try:
        size = resolve(names, catalog, declared=declared, declared_source=declared_source)
    except ValueError as exc:
        raise RequirementError(f"{where}: {exc}") from None
    profile = parse_profile(profile_name) if profile_name else None
    chosen_precision = _agree(where, precision, precision_from, profile, "precision")
    tensor = _agree(where, tp, tp_from, profile, "tp")
    stages = _agree(where, pp, pp_from, profile, "pp") or 1
    positive(stages, where, "pipeline-parallel size")
    if single_node is None:  # a model name: pipeline stages are nodes, as the NIM Operator deploys them
        single_node = stages == 1
    if tensor is None:
        tensor = gpus // stages if gpus and single_node and gpus % stages == 0 else (gpus or 1)
    positive(tensor, where, "tensor-parallel size")
    per_pod = tensor * stages if single_node else tensor
    if gpus is None:
        gpus = per_pod
    elif gpus < per_pod:
        layout = f"tensor {tensor} x pipeline {stages}" if single_node else f"tensor {tensor} per pod"
        raise RequirementError(
            f"{where}: requests {gpus} {gpus_from} but {layout} needs {per_pod}: NIM fails at start"
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
        memory = per_gpu_need(size.params_b, bytes_per_param, tensor, stages, kv_per_token, context, limits)
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
        nim_version=nim_version,
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
        ShippedTp(
            gpu=p.gpu,
            precision=p.precision,
            tp=tuple(sorted(p.tp)),
            pp=p.pp,
            engine=entry.shipped.engine,
            release=entry.shipped.release,
        )
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
