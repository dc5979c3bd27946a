"""The memory model: what one GPU must hold to serve a model, and how much of its memory may hold it.

Per GPU, with tensor parallel TP and pipeline parallel PP (NIM-FIT-001, `checks/placement.yaml`):

    weights  = parameters x bytes per parameter / (TP x PP)            [NVIDIA] memory troubleshooting page
    KV cache = KV bytes per token x context / (TP x PP)                one sequence at the maximum context
    KV bytes per token = 2 x KV layers x KV heads x head dim x KV bytes per element   (keys and values)
    need     = weights + KV cache + runtime overhead
    fits when need <= usableFraction x the GPU's memory as NVML reports it

Pipeline stages split the layers, hence their KV cache, as they split the weights. All figures are bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nimdoctor.catalog import ModelArchitecture
from nimdoctor.placement.settings import Settings


@dataclass(frozen=True)
class MemoryNeed:
    """One GPU's share, in bytes; `minimum_gpu` is the NVML total that holds `total` within the fraction."""

    weights: int
    kv_cache: int
    overhead: int
    total: int
    minimum_gpu: int


def kv_bytes_per_token(arch: ModelArchitecture, limits: Settings) -> int:
    """Keys and values of one token across every layer that keeps a KV cache."""
    layers = arch.kv_layers if arch.kv_layers is not None else arch.layers
    return 2 * layers * arch.kv_heads * arch.head_dim * limits.kv_bytes_per_element


def weights_bytes(params_b: float, bytes_per_param: float) -> int:
    """All the model's weights, in decimal bytes."""
    return round(params_b * 1e9 * bytes_per_param)


def per_gpu_need(
    params_b: float,
    bytes_per_param: float,
    gpus: int,
    kv_per_token: int | None,
    context: int | None,
    limits: Settings,
) -> MemoryNeed:
    """The need of one of `gpus` GPUs (TP x PP) that share the model; no KV term when it is unknown."""
    weights = math.ceil(weights_bytes(params_b, bytes_per_param) / gpus)
    kv = math.ceil(kv_per_token * context / gpus) if kv_per_token and context else 0
    total = weights + kv + limits.overhead_bytes
    return MemoryNeed(
        weights=weights,
        kv_cache=kv,
        overhead=limits.overhead_bytes,
        total=total,
        minimum_gpu=math.ceil(total / limits.usable_fraction),
    )


def budget(memory: int, limits: Settings) -> int:
    """Bytes of one GPU the engine may use: the usable fraction of its NVML total."""
    return int(memory * limits.usable_fraction)
