"""The NIM-FIT rules: each judges one requirement against one node's capabilities.

A rule returns a `Reason` (fail, warn, or error when it cannot be evaluated) or `None` when the node is fine
on that count. Rules are pure and take the validated thresholds (`Settings`) rather than the raw catalog;
`fit` hands them the requirement as this node would serve it (`variants.for_node`). A capability the node
did not report is a warning where the requirement makes it matter, and an error where the verdict rests
on it (GPU memory, GPU model): never a silent pass and never a guess.

A warning on a verdict that fits is a caution: its short line comes from the check's `cautionShort`
parameter where the catalog's `short` would read as a failure.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from msgspec import UNSET

from nimdoctor import gpus
from nimdoctor.catalog import Check
from nimdoctor.placement.layouts import (
    first_fitting_tp,
    fits_one_node,
    holds_at,
    node_max_tp,
    smallest_mig_slice,
)
from nimdoctor.placement.memory import TENSORRT_LLM, budget, weights_bytes
from nimdoctor.placement.settings import Settings, parse_compute_capability
from nimdoctor.placement.variants import (
    engine_for,
    gpu_memory,
    mig_slice,
    need_at,
    nim_major,
    node_compute_capability,
    product_or_none,
    runs_fp8,
    shipped_tps,
)
from nimdoctor.report import Capabilities, Reason, Requirement, Status
from nimdoctor.rules.registry import register
from nimdoctor.units import gib

PlacementRule = Callable[[Capabilities, Requirement, Settings], Reason | None]
RULES: dict[str, PlacementRule] = {}


def placement_rule(check_id: str) -> Callable[[PlacementRule], PlacementRule]:
    """Register `fn` as the one rule for `check_id` (in the shared registry and for `fit`)."""

    def decorate(fn: PlacementRule) -> PlacementRule:
        register(check_id, kind="placement", probes=frozenset())(fn)
        RULES[check_id] = fn
        return fn

    return decorate


def reason(check: Check, status: Status, message: str, **values: Any) -> Reason:
    """A reason for `check`: its fixed short line, a message, and the fix template filled in."""
    return Reason(
        id=check.id,
        status=status,
        short=f"{check.id} {check.short}",
        message=message,
        fix=check.render_fix(**values),
    )


def variant(check: Check, short_param: str, fix_param: str | None = None) -> Check:
    """The check with the short line (and fix) taken from its params: another wording for another case."""
    fix = str(check.params[fix_param]) if fix_param is not None else check.fix
    return dataclasses.replace(check, short=str(check.params[short_param]), fix=fix)


def caution(check: Check, message: str, **values: Any) -> Reason:
    """A warning in the check's `cautionShort` words: what to watch, beside a verdict that may fit."""
    return reason(variant(check, "cautionShort"), Status.WARN, message, **values)


def _product(caps: Capabilities) -> str:
    return "unknown GPU" if caps.gpu_product is UNSET else caps.gpu_product


def _model(req: Requirement) -> str:
    size = "size unknown" if req.params_b is None else f"{req.params_b:g}B"
    bound = ", an upper bound" if req.params_upper_bound else ""
    return f"{req.model} ({size}{bound}, {req.precision})"


def _layout(req: Requirement) -> str:
    return f"tensor parallel {req.tensor_parallel} x pipeline {req.pipeline_parallel}"


def _precision_advice(req: Requirement, caps: Capabilities, s: Settings) -> str:
    """fp8 only where it helps and the GPU runs it: never on an A100 (compute capability 8.0)."""
    if req.bytes_per_param <= 1:
        return f"The model already runs in {req.precision}."
    fp8 = runs_fp8(caps, s)
    if fp8 is False:
        return f"{_product(caps)} has no fp8 support (compute capability {node_compute_capability(caps)})."
    if fp8 is None:
        return (
            "Or serve an fp8 profile if the GPUs run it (compute capability 8.9+): fp8 halves 16-bit weights."
        )
    return "Or serve an fp8 profile: fp8 halves 16-bit weights."


def _tp_advice(req: Requirement, caps: Capabilities, s: Settings, largest: int) -> str:
    """Advice on a smaller TP, given only when that TP holds the model on this node's GPUs."""
    memory = gpu_memory(caps, req)
    tp = first_fitting_tp(req, caps, memory, s) if memory is not None else None
    if tp is not None and tp <= largest and tp < req.tensor_parallel:
        return f"or run it at tensor parallel {tp}, which holds the model on these GPUs"
    if memory is None or req.params_b is None:
        return "a smaller tensor-parallel size is only an option if NIM-FIT-001 says the model fits it"
    return "a smaller tensor-parallel size does not hold the model on these GPUs"


@placement_rule("NIM-FIT-008")
def node_ready(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """The node reports itself ready: no critical node check fails."""
    if caps.ready:
        return None
    check = s.checks["NIM-FIT-008"]
    return reason(check, Status.FAIL, "the node is not ready: a critical nimdoctor node check fails")


@placement_rule("NIM-FIT-002")
def gpu_count(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """The node has at least as many GPUs as the pod requests (MIG devices: NIM-FIT-009)."""
    if req.mig_profile is not None:
        return None
    check = s.checks["NIM-FIT-002"]
    pp = req.pipeline_parallel if req.single_node else 1
    values = {"gpus": req.gpus, "tp": req.tensor_parallel, "pp": pp}
    unselected = _unselected(caps, req)
    if unselected is not None:
        message = f"the pod's resource claims select {unselected}; the node's GPUs are not"
        return reason(
            variant(check, "claimShort", "claimFix"), Status.FAIL, message, selected=unselected, **values
        )
    if caps.gpu_count is UNSET:
        message = f"the node did not report its GPU count; the pod requests {req.gpus}"
        advice = "see the node's GPU count first"
        return caution(
            check,
            message,
            count="an unknown number",
            tp_advice=advice,
            **values,
        )
    if caps.gpu_count >= req.gpus:
        return None
    message = f"the pod requests {req.gpus} GPUs; the node has {caps.gpu_count}"
    advice = _tp_advice(req, caps, s, node_max_tp(caps, s))
    return reason(check, Status.FAIL, message, count=caps.gpu_count, tp_advice=advice, **values)


def _unselected(caps: Capabilities, req: Requirement) -> str | None:
    """What a claim's selectors ask for that this node's GPUs are not (None: they are, or it is unknown:
    kube-scheduler's DynamicResources plugin checks the selectors on the devices themselves)."""
    if req.claim_gpu is not None and caps.gpu_product is not UNSET and caps.gpu_product != req.claim_gpu:
        return f"{req.claim_gpu} GPUs"
    memory = None if caps.gpu_memory_bytes is UNSET else caps.gpu_memory_bytes
    low, high = req.claim_min_memory_bytes, req.claim_max_memory_bytes
    if memory is None or (low is None and high is None):
        return None
    if low is not None and memory < low:
        return f"GPUs with at least {gib(low)} of memory"
    if high is not None and memory > high:
        return f"GPUs with at most {gib(high)} of memory"
    return None


@placement_rule("NIM-FIT-001")
def memory(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """The engine NIM runs here starts and serves the model on one GPU (see `memory`): TensorRT-LLM with a
    KV pool of at least `minServableContext` tokens (a caution when it caps the context), vLLM with one
    full-length sequence within 0.9 of the GPU.

    When no tensor-parallel size on this node would fit, NIM-FIT-006 reports it instead; a missing MIG
    device is NIM-FIT-009's.
    """
    check = s.checks["NIM-FIT-001"]
    if req.params_b is None:
        message = (
            f"model {req.model!r} is not in the model catalog and its name carries no size (like 70b): "
            "nimdoctor does not guess, so GPU memory, open files and multi-node needs were not evaluated"
        )
        return reason(variant(check, "unknownShort", "unknownFix"), Status.ERROR, message, model=req.model)
    device = gpu_memory(caps, req)
    if req.mig_profile is not None and device is None:
        return None
    need = req.gpu_memory_need_bytes or 0
    if device is None or caps.gpu_product is UNSET:
        missing = "GPU memory" if device is None else "GPU model"
        message = (
            f"the node did not report its {missing}: nimdoctor cannot tell whether {_model(req)} fits "
            f"({gib(need)} per GPU at {_layout(req)})"
        )
        return reason(
            variant(check, "unknownGpuShort", "unknownGpuFix"), Status.ERROR, message, missing=missing
        )
    engine = (
        req.engine or engine_for(req, product_or_none(caps), req.tensor_parallel, req.pipeline_parallel)[0]
    )
    if holds_at(req, caps, device, req.tensor_parallel, req.pipeline_parallel, s):
        return _memory_caution(check, req, s)
    if req.single_node and req.mig_profile is None and not fits_one_node(req, caps, s):
        return None
    values = _memory_values(req, caps, s, device, engine)
    # "or use fp8" only where it helps (16-bit weights) and the GPU runs it (not an A100).
    fp8_helps = req.bytes_per_param > 1 and runs_fp8(caps, s) is not False
    short = check if fp8_helps else variant(check, "noFp8Short")
    return reason(
        short, Status.FAIL, values.pop("message"), layout=_memory_layout(req, caps, s, device), **values
    )


def _memory_caution(check: Check, req: Requirement, s: Settings) -> Reason | None:
    """What to watch on a fit: a KV cache not counted, or a TensorRT-LLM engine that caps the context."""
    if req.kv_bytes_per_token is None:
        message = (
            f"{_model(req)} needs {gib(req.gpu_memory_need_bytes or 0)} per GPU for weights and overhead; "
            "its KV cache was not counted: the model catalog has no architecture for it"
        )
        return reason(variant(check, "cautionShort", "cautionFix"), Status.WARN, message, model=req.model)
    served, context = req.served_context, req.max_context
    if req.engine != TENSORRT_LLM or served is None or not context or served >= context:
        return None
    about = f"{served // 1000 * 1000:,}" if served >= 1000 else str(served)
    message = (
        f"{_model(req)} at {_layout(req)}: the TensorRT-LLM engine caps the context at about {about} of "
        f"{context:,} tokens on this GPU (its KV pool holds no more)"
    )
    return reason(
        variant(check, "contextCapShort", "contextCapFix"),
        Status.WARN,
        message,
        tp=req.tensor_parallel,
        weights=gib(req.weights_per_gpu_bytes or 0),
        overhead=gib(req.overhead_per_gpu_bytes or 0),
        fraction=f"{s.usable_fraction:g}",
        served=f"{served:,}",
        context=f"{context:,}",
    )


def _memory_values(
    req: Requirement, caps: Capabilities, s: Settings, device: int, engine: str
) -> dict[str, Any]:
    kv = req.kv_cache_per_gpu_bytes or 0
    context = f"{req.max_context:,} tokens" if req.max_context else "no context"
    weights, overhead = req.weights_per_gpu_bytes or 0, req.overhead_per_gpu_bytes or 0
    breakdown = f"weights {gib(weights)} + KV cache {gib(kv)} for {context} + overhead {gib(overhead)}"
    served = req.served_context or 0
    if engine == TENSORRT_LLM:
        pool = max(0, int(s.usable_fraction * (device - weights - overhead)))
        rule = (
            f"TensorRT-LLM keeps {s.usable_fraction:g} of what weights and overhead leave for its KV cache "
            f"({gib(pool)}): fewer than {s.min_servable_context:,} tokens, too few to serve"
        )
        context_advice = "A shorter context does not help: the engine already shrinks it to what fits."
    else:
        allowed = budget(device, s)
        rule = (
            f"vLLM budgets {s.usable_fraction:g} of the GPU ({gib(allowed)}) and refuses to start "
            "without room for one full-length sequence"
        )
        rule += f"; the largest context that fits is {served:,} tokens" if served else ""
        option = "--max-model-len" if nim_major(req.nim_version) == 2 else "NIM_MAX_MODEL_LEN"
        shorter = served // 1024 * 1024 if served >= 1024 else served
        context_advice = (
            f"Or serve a shorter context: {option}={shorter} or less fits this layout."
            if req.max_context and 0 < shorter < req.max_context
            else "A shorter context does not make it fit this layout."
        )
    message = (
        f"{_model(req)} at {_layout(req)} needs {gib(req.gpu_memory_need_bytes or 0)} of {gib(device)} per "
        f"GPU ({breakdown}); {rule}"
    )
    return {
        "message": message,
        "tp": req.tensor_parallel,
        "pp": req.pipeline_parallel,
        "need": gib(req.gpu_memory_need_bytes or 0),
        "breakdown": breakdown,
        "engine": req.engine_reason or engine,
        "budget": rule,
        "memory": gib(device),
        "context_advice": context_advice,
        "precision_advice": _precision_advice(req, caps, s),
    }


def _memory_layout(req: Requirement, caps: Capabilities, s: Settings, device: int) -> str:
    if req.mig_profile is not None:
        found = smallest_mig_slice(req, caps, s)
        if found is not None and found.memory_bytes > device:
            return f"request a {found.profile} MIG device (nvidia.com/mig-{found.profile}: 1)"
        return "request a larger MIG profile (nvidia.com/mig-<profile>) or a whole GPU on a node with MIG off"
    total = weights_bytes(req.params_b or 0, req.bytes_per_param)
    if req.single_node:
        tp = first_fitting_tp(req, caps, device, s) or req.tensor_parallel
        return (
            f"run it at tensor parallel {tp} on this node (nvidia.com/gpu: {tp * req.pipeline_parallel} "
            f"and a tp{tp} profile, or NIM_TENSOR_PARALLEL_SIZE={tp})"
        )
    stages = max(req.pipeline_parallel, math.ceil(total / (req.tensor_parallel * max(budget(device, s), 1))))
    while stages < 64 and not holds_at(req, caps, device, req.tensor_parallel, stages, s):
        stages += 1
    return (
        f"spec.multiNode.parallelism tensor {req.tensor_parallel} x pipeline {stages} = "
        f"{req.tensor_parallel * stages} GPUs over {stages} nodes"
    )


@placement_rule("NIM-FIT-004")
def vgpu_multi_gpu(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """Tensor parallel > 1 on vGPUs without any NVLink fails (the L40S vGPU case)."""
    if req.tensor_parallel <= 1 or caps.virtualization != "vgpu" or req.mig_profile is not None:
        return None
    if caps.max_nvlink_clique is UNSET or caps.max_nvlink_clique > 1:
        return None
    message = (
        f"{_model(req)} runs tensor parallel {req.tensor_parallel} on {_product(caps)} vGPUs without NVLink: "
        "no peer-to-peer path between them (NVIDIA: no P2P over PCIe under vGPU; field guidance [SEED]: "
        "multi-GPU models are not supported on such vGPUs)"
    )
    return reason(s.checks["NIM-FIT-004"], Status.FAIL, message, tp=req.tensor_parallel)


@placement_rule("NIM-FIT-003")
def nvlink(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """Tensor parallel > 1 needs an NVLink clique of at least TP GPUs: fail on vGPU, warning elsewhere."""
    tp = req.tensor_parallel
    if tp <= 1 or req.mig_profile is not None:
        return None
    check = s.checks["NIM-FIT-003"]
    vgpu = caps.virtualization == "vgpu"
    clique = caps.max_nvlink_clique
    values = {"tp": tp, "shm": check.params.get("sharedMemory", "16Gi")}
    if clique is UNSET:
        message = f"the node did not report its NVLink topology; tensor parallel {tp} wants NVLink"
        advice = "see the node's NVLink topology first"
        return caution(
            check,
            message,
            clique="an unknown number of",
            tp_advice=advice,
            **values,
        )
    if clique >= tp or (vgpu and clique <= 1):  # no NVLink at all on vGPU: NIM-FIT-004
        return None
    where = "vGPUs: peer-to-peer only works over NVLink" if vgpu else "GPUs: the rest talk over PCIe"
    message = (
        f"tensor parallel {tp} needs an NVLink clique of {tp} GPUs; the largest on this node has {clique} "
        f"({_product(caps)} {where})"
    )
    advice = _tp_advice(req, caps, s, 1 << (max(clique, 1).bit_length() - 1))
    return reason(
        check, Status.FAIL if vgpu else Status.WARN, message, clique=clique, tp_advice=advice, **values
    )


@placement_rule("NIM-FIT-010")
def precision(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """The GPU's compute capability supports the precision (fp8 >= 8.9, bf16 >= 8.0)."""
    required = s.min_compute_capability.get(req.precision)
    if required is None:
        return None
    check = s.checks["NIM-FIT-010"]
    text = node_compute_capability(caps)
    have = parse_compute_capability(text) if text else None
    needed = f"{required[0]}.{required[1]}"
    values = {"precision": req.precision, "required": needed, "gpu": _product(caps)}
    if have is None:
        message = f"the node did not report its GPUs' compute capability; {req.precision} needs {needed}"
        return caution(
            check,
            message,
            cc="an unknown compute capability",
            supported="?",
            **values,
        )
    if have >= required:
        return None
    supported = sorted(p for p, cc in s.min_compute_capability.items() if have >= cc)
    message = f"{req.precision} needs compute capability {needed} or newer; {_product(caps)} has {text}"
    return reason(check, Status.FAIL, message, cc=text, supported=", ".join([*supported, "fp16"]), **values)


@placement_rule("NIM-FIT-011")
def tensor_parallel(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """TP divides the attention heads (else the engine refuses to start), is a size NIM profiles come in,
    and is one NVIDIA ships for this GPU and precision (else NIM falls back to a generic profile)."""
    check = s.checks["NIM-FIT-011"]
    tp = req.tensor_parallel
    heads = req.attention_heads
    shipped = shipped_tps(req, product_or_none(caps))
    sizes = ", ".join(map(str, s.profile_tensor_parallel))
    listed = ", ".join(map(str, shipped or ())) or "none listed"
    if heads and heads % tp:
        message = (
            f"tensor parallel {tp} does not divide {req.model}'s {heads} attention heads: vLLM and "
            "TensorRT-LLM refuse to start"
        )
        return reason(check, Status.FAIL, message, **_tp_values(req, caps, sizes, listed))
    if tp not in s.profile_tensor_parallel:
        message = f"NIM profiles come in tensor parallel {sizes}; {tp} is none of them"
        return caution(check, message, **_tp_values(req, caps, sizes, listed))
    if req.engine == TENSORRT_LLM or req.mig_profile is not None or req.pipeline_parallel != 1:
        return None
    if shipped is not None and tp not in shipped:
        message = (
            f"NVIDIA ships {req.model} {req.precision} on {_product(caps)} at tensor parallel {listed}; at "
            f"{tp} NIM runs a generic vLLM profile, sized here by vLLM's rule"
        )
        return caution(check, message, **_tp_values(req, caps, sizes, listed))
    if (
        shipped is None
        and req.shipped
        and nim_major(req.nim_version) in (None, 1)
        and caps.gpu_product is not UNSET
    ):
        message = (
            f"NVIDIA ships no optimized profile of {req.model} {req.precision} for {_product(caps)}: NIM "
            "runs a generic vLLM profile, sized here by vLLM's rule"
        )
        return caution(check, message, **_tp_values(req, caps, sizes, listed))
    return None


def _tp_values(req: Requirement, caps: Capabilities, sizes: str, listed: str) -> dict[str, Any]:
    return {
        "tp": req.tensor_parallel,
        "heads": req.attention_heads or "its",
        "sizes": sizes,
        "shipped": listed,
        "gpu": _product(caps),
        "precision": req.precision,
    }


@placement_rule("NIM-FIT-007")
def profile_gpu(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """The profile's GPU is this node's: another family fails, another variant of the family warns."""
    wanted = req.profile_gpu
    if wanted is None:
        return None
    check = s.checks["NIM-FIT-007"]
    values = {"profile": req.profile or "?", "profile_gpu": wanted}
    if caps.gpu_product is UNSET:
        message = f"the node did not report its GPU model; profile {req.profile} was built for {wanted}"
        return caution(check, message, node_gpu="an unknown GPU", **values)
    have = caps.gpu_product
    if gpus.family(wanted) != gpus.family(have):
        message = f"profile {req.profile} was built for {wanted}; the node has {have}"
        return reason(check, Status.FAIL, message, node_gpu=have, **values)
    if "-" in wanted and "-" in have and wanted != have:
        message = f"profile {req.profile} was built for {wanted}, another variant of the node's {have}"
        return caution(check, message, node_gpu=have, **values)
    return None


def _slices_text(caps: Capabilities) -> str:
    if caps.mig_slices is UNSET or not caps.mig_slices:
        return "none reported"
    return ", ".join(f"{m.count}x {m.profile} ({gib(m.memory_bytes)})" for m in caps.mig_slices)


@placement_rule("NIM-FIT-009")
def mig(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """A MIG request gets a device of its profile (TP 1); a whole-GPU request gets no MIG-enabled GPU."""
    check = s.checks["NIM-FIT-009"]
    values = {"slices": _slices_text(caps), "need": gib(req.min_gpu_memory_bytes or 0)}
    if req.mig_profile is None:
        if caps.mig_enabled is not True:
            return None
        alone = need_at(req, 1, 1, s)
        values["need"] = gib(alone.minimum_gpu) if alone is not None else "<unknown>"
        found = smallest_mig_slice(req, caps, s)
        holder = (
            f"the smallest that holds the model: {found.profile}"
            if found is not None
            else f"none holds the model (one device needs {values['need']})"
        )
        message = (
            f"MIG is enabled on this node's GPUs: {_model(req)} requests whole GPUs (nvidia.com/gpu), which "
            f"MIG-partitioned GPUs do not offer; MIG devices here: {values['slices']}; {holder}"
        )
        profile = found.profile if found is not None else "<profile>"
        return reason(check, Status.FAIL, message, profile=profile, **values)
    wanted = f"nvidia.com/mig-{req.mig_profile}"
    found = mig_slice(caps, req.mig_profile) if caps.mig_enabled is True else None
    values["profile"] = req.mig_profile
    if found is None:
        message = f"the pod requests {wanted}; this node has no such MIG device (it has: {values['slices']})"
        return reason(check, Status.FAIL, message, **values)
    if found.count < req.gpus:
        message = f"the pod requests {req.gpus} {wanted}; the node has {found.count}"
        return reason(check, Status.FAIL, message, **values)
    if req.tensor_parallel * req.pipeline_parallel > 1:
        message = (
            f"{_model(req)} runs tensor parallel {req.tensor_parallel} over MIG devices: MIG devices have no "
            "peer-to-peer path between them (MIG user guide)"
        )
        return reason(check, Status.FAIL, message, **values)
    if not holds_at(req, caps, found.memory_bytes, 1, 1, s):
        return None  # NIM-FIT-001 says the device is too small: no "fits" caution beside it
    message = (
        f"{_model(req)} fits a {req.mig_profile} MIG device ({gib(found.memory_bytes)}; it needs "
        f"{values['need']}): request {wanted}; NVIDIA supports MIG for some NIMs and versions only"
    )
    return reason(variant(check, "cautionShort", "cautionFix"), Status.WARN, message, **values)


@placement_rule("NIM-FIT-005")
def open_files(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """From `largeModelParamsB` on, containerd's soft open-file limit is at least `minNofile`."""
    required = req.min_nofile
    if required is None or caps.nofile_unlimited is True:
        return None
    check = s.checks["NIM-FIT-005"]
    drop_in = str(check.params["dropIn"])
    values = {
        "params": f"{req.params_b:g}B",
        "large": f"{s.large_model_params_b:g}",
        "required": required,
        "dropin": drop_in,
        "dropin_dir": drop_in.rsplit("/", 1)[0],
    }
    soft = caps.nofile_soft
    if soft is UNSET:
        message = (
            f"containerd's open-file limit is unknown on this node (containerd not found, or its limits not "
            f"readable); {_model(req)} needs at least {required}"
        )
        return caution(check, message, current="not read (see NIM-RT-001 and NIM-RT-003)", **values)
    if soft is None or soft >= required:
        return None
    message = f"containerd's open-file soft limit is {soft}; {_model(req)} needs at least {required}"
    return reason(check, Status.FAIL, message, current=soft, **values)


@placement_rule("NIM-FIT-006")
def one_node(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """A single-node requirement fits one node of this shape; else name the multi-node layout."""
    if not req.single_node or req.mig_profile is not None:
        return None
    max_tp = node_max_tp(caps, s)
    too_many = (
        caps.gpu_count is not UNSET
        and req.pipeline_parallel > 1
        and (req.tensor_parallel * req.pipeline_parallel > caps.gpu_count)
    )
    too_big = fits_one_node(req, caps, s) is False
    if not (too_many or too_big):
        return None
    tensor = req.tensor_parallel if too_many and req.tensor_parallel <= max_tp else max_tp
    if caps.virtualization == "vgpu":  # vGPU peers need NVLink (NIM-FIT-003/004): tensor stays in a clique
        clique = 1 if caps.max_nvlink_clique is UNSET else max(caps.max_nvlink_clique, 1)
        tensor = min(tensor, 1 << (clique.bit_length() - 1))
    stages = max(req.pipeline_parallel, math.ceil(req.tensor_parallel * req.pipeline_parallel / tensor))
    device = gpu_memory(caps, req)
    if device is not None and req.params_b is not None:
        while stages < 64 and not holds_at(req, caps, device, tensor, stages, s):
            stages += 1
    if too_big and device is not None:
        engine, _ = engine_for(req, product_or_none(caps), max_tp, 1)
        at_max = need_at(req, max_tp, 1, s, engine)
        largest = gib(at_max.minimum_gpu if at_max else 0)
        label = "a TensorRT-LLM engine" if engine == TENSORRT_LLM else "vLLM"
        message = (
            f"{_model(req)} needs GPUs of {largest} even at tensor parallel {max_tp} under {label}; these "
            f"have {gib(device)}"
        )
    else:
        message = (
            f"tensor parallel {req.tensor_parallel} x pipeline {req.pipeline_parallel} needs "
            f"{req.tensor_parallel * req.pipeline_parallel} GPUs; the node has {caps.gpu_count}"
        )
    pvc = gib(req.cache_pvc_bytes) if req.cache_pvc_bytes else "the model's size"
    return reason(
        s.checks["NIM-FIT-006"],
        Status.FAIL,
        message,
        tensor=tensor,
        pipeline=stages,
        total=tensor * stages,
        pvc=pvc,
        precision_advice=_precision_advice(req, caps, s),
    )
