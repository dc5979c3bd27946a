"""What a requirement becomes on one node: NIM's precision choice, MIG devices, NVIDIA's shipped TPs.

A requirement is built without a node. Two of its answers depend on the node's GPUs, and `fit` settles
them here before any rule runs:
- precision: when nothing names one and NVIDIA ships the model in fp8, NIM picks fp8 on GPUs of compute
  capability 8.9 and newer (NIM-FIT-010's `minComputeCapability.fp8`) and bf16 below; an unknown compute
  capability keeps bf16 (the larger need);
- MIG: under the GPU Operator's `single` strategy a `nvidia.com/gpu` request gets one MIG device, so a
  node whose GPUs are split into one profile serves the pod with that profile's devices.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET

from nimdoctor import gpus
from nimdoctor.placement import precision as precisions
from nimdoctor.placement.memory import per_gpu_need
from nimdoctor.placement.settings import Settings, parse_compute_capability
from nimdoctor.report import Capabilities, MigSlice, Requirement

_CC_BY_PRODUCT = {model.product: model.compute_capability for model in gpus.KNOWN}


def node_compute_capability(caps: Capabilities) -> str | None:
    """The node's compute capability as reported, else the one its GPU model has; None when unknown."""
    if caps.compute_capability is not UNSET:
        return caps.compute_capability
    if caps.gpu_product is not UNSET:
        return _CC_BY_PRODUCT.get(caps.gpu_product)
    return None


def with_precision(req: Requirement, precision: str, reason: str, limits: Settings) -> Requirement:
    """`req` in another precision: bytes per parameter and the memory figures follow."""
    bytes_per_param = precisions.BYTES_PER_PARAM[precision]
    values: dict[str, object] = {}
    if req.params_b is not None:
        need = per_gpu_need(
            req.params_b,
            bytes_per_param,
            req.tensor_parallel * req.pipeline_parallel,
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


def _nim_precision(req: Requirement, caps: Capabilities, limits: Settings) -> Requirement:
    fp8_floor = limits.min_compute_capability.get(precisions.FP8)
    text = node_compute_capability(caps)
    have = parse_compute_capability(text) if text else None
    if fp8_floor is None or have is None:
        reason = "bf16: the node's compute capability is unknown (NIM picks fp8 on 8.9 and newer)"
        return msgspec.structs.replace(req, precision_reason=reason)
    needed = f"{fp8_floor[0]}.{fp8_floor[1]}"
    if have >= fp8_floor:
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
    """The requirement as this node would serve it (see the module doc); `req` itself when nothing changes."""
    if req.precision_auto:
        req = _nim_precision(req, caps, limits)
    if req.mig_profile is None and (found := single_strategy_slice(caps)) is not None:
        req = msgspec.structs.replace(req, mig_profile=found.profile)
    return req


def mig_slice(caps: Capabilities, profile: str) -> MigSlice | None:
    """The node's MIG devices of `profile`, if it has any."""
    if caps.mig_slices is UNSET:
        return None
    return next((s for s in caps.mig_slices if s.profile == profile), None)


def shipped_tps(req: Requirement, product: str | None) -> tuple[int, ...] | None:
    """TPs NVIDIA ships for this GPU product and precision on one node (pp 1); None when none are listed."""
    if product is None:
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
