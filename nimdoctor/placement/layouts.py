"""Which layouts hold a model on a node: the tensor-parallel sizes to try, in NIM's order, and the first
that fits; the smallest MIG device that holds a model; whether the node's GPUs run fp8.

Each size is judged under the engine NIM runs there (`variants.engine_for`) with that engine's memory rule
(`memory.holds`), so advice and search agree with NIM-FIT-001.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET

from nimdoctor.placement.memory import holds, served_context
from nimdoctor.placement.settings import Settings
from nimdoctor.placement.variants import (
    engine_for,
    gpu_memory,
    kv_per_gpu_token,
    need_at,
    product_or_none,
    shipped_tps,
)
from nimdoctor.report import Capabilities, MigSlice, Requirement


def node_max_tp(caps: Capabilities, s: Settings) -> int:
    """The largest tensor-parallel size one node offers: a power of two up to its GPU count.

    Capped at maxTensorParallel, which also stands in for an unknown GPU count.
    """
    limit = s.max_tensor_parallel if caps.gpu_count is UNSET else min(caps.gpu_count, s.max_tensor_parallel)
    return 1 << (max(limit, 1).bit_length() - 1)


def holds_at(req: Requirement, caps: Capabilities, device: int, tp: int, pp: int, s: Settings) -> bool:
    """Whether GPUs (or MIG devices) of `device` bytes serve `req` at this layout, under the engine NIM
    runs there (`variants.engine_for`)."""
    engine, _ = engine_for(req, product_or_none(caps), tp, pp)
    need = need_at(req, tp, pp, s, engine)
    if need is None:
        return False
    served = served_context(engine, device, need, kv_per_gpu_token(req, tp, pp), req.max_context, s)
    return holds(engine, device, need, served, req.max_context, s)


def tp_candidates(req: Requirement, caps: Capabilities, s: Settings) -> list[int]:
    """The TPs to try, in order: NVIDIA's shipped ones for this GPU and precision (smallest first, judged
    as TensorRT-LLM engines), then the other powers of two up to the node's largest TP (generic vLLM)."""
    largest = node_max_tp(caps, s)
    shipped = [tp for tp in shipped_tps(req, product_or_none(caps)) or () if tp <= largest]
    return shipped + [1 << n for n in range(largest.bit_length()) if 1 << n not in shipped]


def first_fitting_tp(req: Requirement, caps: Capabilities, memory: int, s: Settings) -> int | None:
    """The first TP in `tp_candidates` order at which `req` fits GPUs of `memory` within this node's GPUs."""
    pp = req.pipeline_parallel
    gpus_here = s.max_tensor_parallel * pp if caps.gpu_count is UNSET else caps.gpu_count
    return next(
        (
            tp
            for tp in tp_candidates(req, caps, s)
            if tp * pp <= gpus_here and holds_at(req, caps, memory, tp, pp, s)
        ),
        None,
    )


def smallest_mig_slice(req: Requirement, caps: Capabilities, s: Settings) -> MigSlice | None:
    """The node's smallest MIG device that serves the model alone (vLLM's rule at TP 1), if any."""
    if caps.mig_enabled is not True or caps.mig_slices is UNSET or req.params_b is None:
        return None
    for found in sorted(caps.mig_slices, key=lambda m: m.memory_bytes):
        on_slice = msgspec.structs.replace(
            req, mig_profile=found.profile, tensor_parallel=1, pipeline_parallel=1
        )
        if holds_at(on_slice, caps, found.memory_bytes, 1, 1, s):
            return found
    return None


def fits_one_node(req: Requirement, caps: Capabilities, s: Settings) -> bool | None:
    """Whether the model fits this node at some TP; `None` when its size or the GPUs' memory is unknown."""
    memory = gpu_memory(caps, req)
    if req.params_b is None or memory is None:
        return None
    return first_fitting_tp(req, caps, memory, s) is not None
