"""What a requirement becomes on one node: NIM's precision choice, MIG devices, the engine, the context.

A requirement is built without a node. Some of its answers depend on the node's GPUs, and `fit` settles
them here before any rule runs:
- precision: when nothing names one and NVIDIA ships the model in fp8, NIM picks fp8 on GPUs of compute
  capability 8.9 and newer (NIM-FIT-010's `minComputeCapability.fp8`) and bf16 below; an unknown compute
  capability keeps bf16 (the larger need);
- MIG: under the GPU Operator's `single` strategy a `nvidia.com/gpu` request gets one MIG device, so a
  node whose GPUs are split into one profile serves the pod with that profile's devices;
- engine (`engine_for`): NIM 1.x runs the TensorRT-LLM engine NVIDIA ships for this GPU, precision and TP
  when there is one, else a generic vLLM profile; NIM 2.x runs vLLM only. The image tag (or
  `--nim-version`) gives the version; without one the newest 1.x data is assumed, and `engineReason` says so;
- served context: what that engine serves on this node's GPU (or MIG device), see `memory`.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET

from nimdoctor import gpus
from nimdoctor.placement import precision as precisions
from nimdoctor.placement.memory import TENSORRT_LLM, VLLM, MemoryNeed, per_gpu_need, served_context
from nimdoctor.placement.profiles import parse_profile
from nimdoctor.placement.settings import Settings, parse_compute_capability
from nimdoctor.report import Capabilities, MigSlice, Requirement, ShippedTp

_CC_BY_PRODUCT = {model.product: model.compute_capability for model in gpus.KNOWN}


def node_compute_capability(caps: Capabilities) -> str | None:
    """The node's compute capability as reported, else the one its GPU model has; None when unknown."""
    if caps.compute_capability is not UNSET:
        return caps.compute_capability
    if caps.gpu_product is not UNSET:
        return _CC_BY_PRODUCT.get(caps.gpu_product)
    return None


def product_or_none(caps: Capabilities) -> str | None:
    """The node's GPU product name; None when it did not report one."""
    return None if caps.gpu_product is UNSET else caps.gpu_product


def with_precision(req: Requirement, precision: str, reason: str, limits: Settings) -> Requirement:
    """`req` in another precision: bytes per parameter and the memory figures follow."""
    bytes_per_param = precisions.BYTES_PER_PARAM[precision]
    values: dict[str, object] = {}
    if req.params_b is not None:
        need = per_gpu_need(
            req.params_b,
            bytes_per_param,
            req.tensor_parallel,
            req.pipeline_parallel,
            req.kv_bytes_per_token,
            req.max_context,
            limits,
        )
        values = {
            "weights_per_gpu_bytes": need.weights,
            "kv_cache_per_gpu_bytes": need.kv_cache,
            "gpu_memory_need_bytes": need.total,
            "min_gpu_memory_bytes": need.minimum_gpu,
        }
    return msgspec.structs.replace(
        req, precision=precision, bytes_per_param=bytes_per_param, precision_reason=reason, **values
    )


def runs_fp8(caps: Capabilities, s: Settings) -> bool | None:
    """Whether the node's GPUs run fp8 (compute capability at NIM-FIT-010's floor); None when unknown."""
    floor = s.min_compute_capability.get(precisions.FP8)
    text = node_compute_capability(caps)
    have = parse_compute_capability(text) if text else None
    return None if floor is None or have is None else have >= floor


def _nim_precision(req: Requirement, caps: Capabilities, limits: Settings) -> Requirement:
    fp8 = runs_fp8(caps, limits)
    if fp8 is None:
        reason = "bf16: the node's compute capability is unknown (NIM picks fp8 on 8.9 and newer)"
        return msgspec.structs.replace(req, precision_reason=reason)
    fp8_floor = limits.min_compute_capability[precisions.FP8]
    needed = f"{fp8_floor[0]}.{fp8_floor[1]}"
    text = node_compute_capability(caps)
    if fp8:
        reason = (
            f"fp8: NIM's choice on compute capability {needed} and newer (this GPU: {text}); NVIDIA ships "
            "this model in fp8"
        )
        return with_precision(req, precisions.FP8, reason, limits)
    reason = f"bf16: NIM's choice below compute capability {needed} (this GPU: {text}), where fp8 cannot run"
    return msgspec.structs.replace(req, precision_reason=reason)


def single_strategy_slice(caps: Capabilities) -> MigSlice | None:
    """The one MIG profile a `nvidia.com/gpu` request gets under the `single` strategy, if that applies."""
    if caps.mig_enabled is not True or caps.mig_strategy != "single" or caps.mig_slices is UNSET:
        return None
    return caps.mig_slices[0] if len(caps.mig_slices) == 1 else None


def for_node(req: Requirement, caps: Capabilities, limits: Settings) -> Requirement:
    """The requirement as this node would serve it (see the module doc)."""
    if req.precision_auto:
        req = _nim_precision(req, caps, limits)
    if req.mig_profile is None and (found := single_strategy_slice(caps)) is not None:
        req = msgspec.structs.replace(req, mig_profile=found.profile)
    engine, reason = engine_for(req, product_or_none(caps), req.tensor_parallel, req.pipeline_parallel)
    values: dict[str, object] = {"engine": engine, "engine_reason": reason}
    need = need_at(req, req.tensor_parallel, req.pipeline_parallel, limits, engine)
    if need is not None:
        values["min_gpu_memory_bytes"] = need.minimum_gpu
        device = gpu_memory(caps, req)
        if device is not None:
            values["served_context"] = served_context(
                engine,
                device,
                need,
                kv_per_gpu_token(req, req.tensor_parallel, req.pipeline_parallel),
                req.max_context,
                limits,
            )
    return msgspec.structs.replace(req, **values)


def need_at(req: Requirement, tp: int, pp: int, limits: Settings, engine: str = VLLM) -> MemoryNeed | None:
    """The per-GPU need of `req` at another layout under `engine`; None when the model's size is unknown."""
    if req.params_b is None:
        return None
    return per_gpu_need(
        req.params_b, req.bytes_per_param, tp, pp, req.kv_bytes_per_token, req.max_context, limits, engine
    )


def kv_per_gpu_token(req: Requirement, tp: int, pp: int) -> float:
    """KV-cache bytes of one token on one of the TP x PP GPUs; 0 when there is no (known) KV term."""
    return (req.kv_bytes_per_token or 0) / (tp * pp)


def gpu_memory(caps: Capabilities, req: Requirement) -> int | None:
    """Memory of one device the pod gets: its MIG device's, else a whole GPU's; None when unknown."""
    if req.mig_profile is not None:
        found = mig_slice(caps, req.mig_profile)
        return found.memory_bytes if found is not None else None
    return None if caps.gpu_memory_bytes is UNSET else caps.gpu_memory_bytes


def nim_major(version: str | None) -> int | None:
    """The major version of a NIM release (`1.14.0` -> 1); None when unknown."""
    head = (version or "").split(".", 1)[0]
    return int(head) if head.isdigit() else None


def _assumed(req: Requirement) -> str:
    if req.nim_version is None:
        return "NIM 1.x (no version in the image tag or --nim-version: the newest 1.x profiles assumed)"
    return f"NIM {req.nim_version}"


def shipped_engine(req: Requirement, product: str | None, tp: int, pp: int) -> ShippedTp | None:
    """NVIDIA's optimized profile set for this GPU, precision and layout that contains `tp`, if any."""
    if product is None:
        return None
    return next(
        (
            entry
            for entry in req.shipped
            if (entry.gpu, entry.pp) == (product, pp)
            and tp in entry.tp
            and precisions.same_class(entry.precision, req.precision)
        ),
        None,
    )


def engine_for(req: Requirement, product: str | None, tp: int, pp: int) -> tuple[str, str]:
    """(engine, why) NIM runs `req` with at this layout on GPUs of `product` (see the module doc)."""
    profile = parse_profile(req.profile) if req.profile else None
    if profile is not None and profile.engine in (TENSORRT_LLM, VLLM):
        label = "TensorRT-LLM" if profile.engine == TENSORRT_LLM else "vLLM"
        return profile.engine, f"{label}: profile {profile.name} names it"
    major = nim_major(req.nim_version)
    if major is not None and major >= 2:
        return VLLM, f"vLLM: NIM {req.nim_version} (2.x) serves every profile with vLLM"
    assumed = _assumed(req)
    if req.mig_profile is not None:
        return VLLM, f"vLLM's rule on a MIG device: {assumed} ships its optimized engines for whole GPUs"
    if major is not None and major < 1:
        return VLLM, f"vLLM: {assumed} predates the 1.x profile manifests"
    shipped = shipped_engine(req, product, tp, pp)
    where = f"{product or 'this GPU'} {req.precision} at tensor parallel {tp}"
    if shipped is not None:
        label = "TensorRT-LLM" if shipped.engine == TENSORRT_LLM else "vLLM"
        release = f" (manifest of NIM {shipped.release})" if shipped.release else ""
        return shipped.engine, f"{label}: {assumed} ships an optimized engine for {where}{release}"
    if product is None:
        return VLLM, f"vLLM: the node's GPU model is unknown, so no optimized profile matches; {assumed}"
    if not req.shipped:
        return VLLM, f"vLLM: the model catalog lists no optimized profiles of this model; {assumed}"
    listed = f"the NIM {req.shipped[0].release} manifest" if req.shipped[0].release else "NVIDIA's manifest"
    return VLLM, f"vLLM: {listed} has no optimized profile for {where} ({assumed}): a generic one runs"


def mig_slice(caps: Capabilities, profile: str) -> MigSlice | None:
    """The node's MIG devices of `profile`, if it has any."""
    if caps.mig_slices is UNSET:
        return None
    return next((s for s in caps.mig_slices if s.profile == profile), None)


def shipped_tps(req: Requirement, product: str | None) -> tuple[int, ...] | None:
    """TPs NVIDIA ships optimized engines for on this GPU product and precision on one node (pp 1), for the
    NIM version assumed (none on NIM 2.x or on a MIG device); None when none are listed."""
    major = nim_major(req.nim_version)
    if product is None or req.mig_profile is not None or (major is not None and major != 1):
        return None
    found = sorted(
        {
            tp
            for entry in req.shipped
            if (entry.gpu, entry.pp) == (product, 1) and precisions.same_class(entry.precision, req.precision)
            for tp in entry.tp
        }
    )
    return tuple(found) if found else None
