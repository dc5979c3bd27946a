"""The memory model: what one GPU must hold to serve a model, and what context each engine serves.

Per GPU, with tensor parallel TP and pipeline parallel PP (NIM-FIT-001, `checks/placement.yaml`):

    weights  = parameters x bytes per parameter / (TP x PP)            [NVIDIA] memory troubleshooting page
    KV cache = KV bytes per token x context / (TP x PP)                one sequence at the maximum context
    KV bytes per token = 2 x KV layers x KV heads x head dim x KV bytes per element   (keys and values)
    overhead = the runtime's residual at this TP (`runtimeOverheadGiBByTp`, calibrated on NIM 2.x's
               `min_vram_per_device_gb` read as GiB: the residual grows with TP)

Two engines, two rules; the usable fraction (0.9) applies once, where the engine applies it:
- TensorRT-LLM (`tensorrt_llm_context`): the KV pool is 0.9 of the memory left after weights and overhead
  (`free_gpu_memory_fraction`, TensorRT-LLM docs `reference/memory.md`). A pool too small for one
  full-length sequence does not stop the engine: it reduces `maxSequenceLen` to what fits
  (`trtGptModelInflightBatching.cpp`). It is no use below `minServableContext` tokens.
- vLLM (`vllm_context`): the budget is 0.9 of the GPU's total (`gpu_memory_utilization`); the KV cache gets
  what weights and overhead leave, and vLLM refuses to start when one `max_model_len` sequence does not fit
  (`vllm/v1/core/kv_cache_utils.py`, `_check_enough_kv_cache_memory`).

Pipeline stages split the layers, hence their KV cache, as they split the weights. All figures are bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nimdoctor.catalog import ModelArchitecture
from nimdoctor.placement.settings import Settings

TENSORRT_LLM = "tensorrt_llm"
VLLM = "vllm"


@dataclass(frozen=True)
class MemoryNeed:
    """One GPU's share, in bytes; `minimum_gpu` is the NVML total that serves the full context under
    `engine`'s rule."""

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
    tp: int,
    pp: int,
    kv_per_token: int | None,
    context: int | None,
    limits: Settings,
    engine: str = VLLM,
) -> MemoryNeed:
    """The need of one of the TP x PP GPUs that share the model; no KV term when it is unknown."""
    gpus = tp * pp
    weights = math.ceil(weights_bytes(params_b, bytes_per_param) / gpus)
    kv = math.ceil(kv_per_token * context / gpus) if kv_per_token and context else 0
    overhead = limits.overhead_bytes(tp)
    total = weights + kv + overhead
    fraction = limits.usable_fraction
    minimum = weights + overhead + math.ceil(kv / fraction) if engine == TENSORRT_LLM else total / fraction
    return MemoryNeed(
        weights=weights, kv_cache=kv, overhead=overhead, total=total, minimum_gpu=math.ceil(minimum)
    )


def tensorrt_llm_context(device: int, weights: int, overhead: int, per_token: float, limits: Settings) -> int:
    """Tokens of one sequence a TensorRT-LLM KV pool holds: 0.9 of what weights and overhead leave."""
    pool = limits.usable_fraction * (device - weights - overhead)
    return max(0, math.floor(pool / per_token))


def vllm_context(device: int, weights: int, overhead: int, per_token: float, limits: Settings) -> int:
    """Tokens of one sequence vLLM's KV cache holds: 0.9 of the GPU less weights and overhead."""
    pool = limits.usable_fraction * device - weights - overhead
    return max(0, math.floor(pool / per_token))


def served_context(
    engine: str, device: int, need: MemoryNeed, per_token: float, context: int | None, limits: Settings
) -> int | None:
    """The context the engine serves on a GPU of `device` bytes: at most `context`; None without a KV term."""
    if not per_token or not context:
        return None
    rule = tensorrt_llm_context if engine == TENSORRT_LLM else vllm_context
    return min(context, rule(device, need.weights, need.overhead, per_token, limits))


def holds(
    engine: str, device: int, need: MemoryNeed, served: int | None, context: int | None, limits: Settings
) -> bool:
    """Whether the engine starts and serves the model on a GPU of `device` bytes.

    TensorRT-LLM: weights and overhead fit and the KV pool holds `minServableContext` tokens (or the whole
    context when that is shorter). vLLM: the full context fits within 0.9 of the GPU. Without a KV term
    (an encoder, or an architecture the catalog lacks): weights and overhead within the engine's budget.
    """
    if served is None or not context:
        budget = device if engine == TENSORRT_LLM else limits.usable_fraction * device
        return need.weights + need.overhead <= budget
    if engine == TENSORRT_LLM:
        return need.weights + need.overhead < device and served >= min(context, limits.min_servable_context)
    return served >= context


def budget(memory: int, limits: Settings) -> int:
    """Bytes of one GPU vLLM may use: the usable fraction of its NVML total."""
    return int(memory * limits.usable_fraction)
