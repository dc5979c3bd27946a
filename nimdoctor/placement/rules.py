"""The NIM-FIT rules: each judges one requirement against one node's capabilities.

A rule returns a `Reason` (fail, warn, or error when it cannot be evaluated) or `None` when the node is fine
on that count. Rules are pure and take the validated thresholds (`Settings`) rather than the raw catalog.
A capability the node did not report is a warning where the requirement makes it matter, never a silent
pass and never a guess (MIG aside: MIG is a deliberate configuration, and GPUs that cannot do it report
nothing).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from msgspec import UNSET

from nimdoctor import gpus
from nimdoctor.catalog import Check
from nimdoctor.placement.settings import Settings, parse_compute_capability
from nimdoctor.report import Capabilities, Reason, Requirement, Status
from nimdoctor.rules.registry import register

PlacementRule = Callable[[Capabilities, Requirement, Settings], Reason | None]
RULES: dict[str, PlacementRule] = {}

_CC_BY_PRODUCT = {model.product: model.compute_capability for model in gpus.KNOWN}


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


def gb(nbytes: float) -> str:
    """Decimal gigabytes, as model sizes are quoted."""
    return f"{nbytes / 1e9:.1f} GB"


def memory_text(nbytes: int) -> str:
    """A GPU's memory in decimal GB and in MiB as NVML reports it."""
    return f"{gb(nbytes)} ({nbytes // 2**20} MiB)"


def weights_total(req: Requirement) -> int | None:
    """All the model's weights in bytes; `None` when its size is unknown."""
    if req.params_b is None:
        return None
    return round(req.params_b * 1e9 * req.bytes_per_param)


def budget(caps: Capabilities, s: Settings) -> int | None:
    """Bytes of weights one GPU may hold: `maxWeightsFraction` of its memory."""
    memory = caps.gpu_memory_bytes
    return None if memory is UNSET else int(memory * s.max_weights_fraction)


def node_max_tp(caps: Capabilities, s: Settings) -> int:
    """The largest tensor-parallel size one node offers: a power of two up to its GPU count.

    Capped at maxTensorParallel, which also stands in for an unknown GPU count.
    """
    limit = s.max_tensor_parallel if caps.gpu_count is UNSET else min(caps.gpu_count, s.max_tensor_parallel)
    return 1 << (max(limit, 1).bit_length() - 1)


def smallest_fitting_tp(total: int, pp: int, per_gpu: int, caps: Capabilities, s: Settings) -> int | None:
    """The smallest power-of-two TP at which `total` bytes over TP x PP GPUs of this node fit `per_gpu`."""
    gpus_here = s.max_tensor_parallel * pp if caps.gpu_count is UNSET else caps.gpu_count
    tp = 1
    while tp <= node_max_tp(caps, s) and tp * pp <= gpus_here:
        if math.ceil(total / (tp * pp)) <= per_gpu:
            return tp
        tp *= 2
    return None


def fits_one_node(req: Requirement, caps: Capabilities, s: Settings) -> bool | None:
    """Whether the weights fit this node at some TP; `None` when size or memory is unknown."""
    total, per_gpu = weights_total(req), budget(caps, s)
    if total is None or per_gpu is None:
        return None
    return smallest_fitting_tp(total, req.pipeline_parallel, per_gpu, caps, s) is not None


def _product(caps: Capabilities) -> str:
    return "unknown GPU" if caps.gpu_product is UNSET else caps.gpu_product


def _model(req: Requirement) -> str:
    size = "size unknown" if req.params_b is None else f"{req.params_b:g}B"
    bound = ", an upper bound" if req.params_upper_bound else ""
    return f"{req.model} ({size}{bound}, {req.precision})"


@placement_rule("NIM-FIT-008")
def node_ready(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """The node reports itself ready: no critical node check fails."""
    if caps.ready:
        return None
    check = s.checks["NIM-FIT-008"]
    return reason(check, Status.FAIL, "the node is not ready: a critical nimdoctor node check fails")


@placement_rule("NIM-FIT-002")
def gpu_count(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """The node has at least as many GPUs as the pod requests."""
    check = s.checks["NIM-FIT-002"]
    pp = req.pipeline_parallel if req.single_node else 1
    values = {"gpus": req.gpus, "tp": req.tensor_parallel, "pp": pp}
    if caps.gpu_count is UNSET:
        message = f"the node did not report its GPU count; the pod requests {req.gpus}"
        return reason(check, Status.WARN, message, count="an unknown number", **values)
    if caps.gpu_count >= req.gpus:
        return None
    message = f"the pod requests {req.gpus} GPUs; the node has {caps.gpu_count}"
    return reason(check, Status.FAIL, message, count=caps.gpu_count, **values)


@placement_rule("NIM-FIT-001")
def gpu_memory(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """The weights per GPU take at most `maxWeightsFraction` of one GPU's memory.

    When no tensor-parallel size on this node would fit them, NIM-FIT-006 reports it instead.
    """
    check = s.checks["NIM-FIT-001"]
    if req.params_b is None:
        message = (
            f"model {req.model!r} is not in the model catalog and its name carries no size (like 70b): "
            "nimdoctor does not guess, so GPU memory, open files and multi-node needs were not evaluated"
        )
        unknown = dataclasses.replace(
            check, short=str(check.params["unknownShort"]), fix=str(check.params["unknownFix"])
        )
        return reason(unknown, Status.ERROR, message, model=req.model)
    per_gpu = budget(caps, s)
    weights = req.weights_per_gpu_bytes or 0
    values = {
        "tp": req.tensor_parallel,
        "pp": req.pipeline_parallel,
        "weights": gb(weights),
        "fraction": f"{s.max_weights_fraction:g}",
    }
    if per_gpu is None or caps.gpu_memory_bytes is UNSET:
        message = f"the node did not report its GPU memory; {_model(req)} needs {gb(weights)} per GPU"
        return reason(
            check,
            Status.WARN,
            message,
            budget="an unknown amount",
            memory="unknown memory",
            layout="see the node's GPU memory first",
            **values,
        )
    if weights <= per_gpu:
        return None
    if req.single_node and not fits_one_node(req, caps, s):
        return None
    memory = memory_text(caps.gpu_memory_bytes)
    message = (
        f"{_model(req)} at tensor parallel {req.tensor_parallel} x pipeline {req.pipeline_parallel}: "
        f"{gb(weights)} of weights per GPU, more than the {gb(per_gpu)} allowed "
        f"({s.max_weights_fraction:g} of {memory})"
    )
    total = weights_total(req) or 0
    if req.single_node:
        tp = smallest_fitting_tp(total, req.pipeline_parallel, per_gpu, caps, s) or req.tensor_parallel
        layout = (
            f"run it at tensor parallel {tp} on this node (nvidia.com/gpu: {tp * req.pipeline_parallel} "
            f"and a tp{tp} profile, or NIM_TENSOR_PARALLEL_SIZE={tp})"
        )
    else:
        stages = math.ceil(total / (req.tensor_parallel * max(per_gpu, 1)))
        layout = (
            f"spec.multiNode.parallelism tensor {req.tensor_parallel} x pipeline {stages} = "
            f"{req.tensor_parallel * stages} GPUs over {stages} nodes"
        )
    return reason(check, Status.FAIL, message, budget=gb(per_gpu), memory=memory, layout=layout, **values)


@placement_rule("NIM-FIT-004")
def vgpu_multi_gpu(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """Tensor parallel > 1 on vGPUs without any NVLink fails (the L40S vGPU case)."""
    if req.tensor_parallel <= 1 or caps.virtualization != "vgpu":
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
    if tp <= 1:
        return None
    check = s.checks["NIM-FIT-003"]
    vgpu = caps.virtualization == "vgpu"
    clique = caps.max_nvlink_clique
    values = {"tp": tp, "shm": check.params.get("sharedMemory", "16Gi")}
    if clique is UNSET:
        message = f"the node did not report its NVLink topology; tensor parallel {tp} wants NVLink"
        return reason(check, Status.WARN, message, clique="an unknown number of", **values)
    if clique >= tp or (vgpu and clique <= 1):  # no NVLink at all on vGPU: NIM-FIT-004
        return None
    where = "vGPUs: peer-to-peer only works over NVLink" if vgpu else "GPUs: the rest talk over PCIe"
    message = (
        f"tensor parallel {tp} needs an NVLink clique of {tp} GPUs; the largest on this node has {clique} "
        f"({_product(caps)} {where})"
    )
    return reason(check, Status.FAIL if vgpu else Status.WARN, message, clique=clique, **values)


@placement_rule("NIM-FIT-010")
def precision(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """The GPU's compute capability supports the precision (fp8 >= 8.9, bf16 >= 8.0)."""
    required = s.min_compute_capability.get(req.precision)
    if required is None:
        return None
    check = s.checks["NIM-FIT-010"]
    text = caps.compute_capability if caps.compute_capability is not UNSET else None
    if text is None and caps.gpu_product is not UNSET:
        text = _CC_BY_PRODUCT.get(caps.gpu_product)
    have = parse_compute_capability(text) if text else None
    needed = f"{required[0]}.{required[1]}"
    values = {"precision": req.precision, "required": needed, "gpu": _product(caps)}
    if have is None:
        message = f"the node did not report its GPUs' compute capability; {req.precision} needs {needed}"
        return reason(
            check, Status.WARN, message, cc="an unknown compute capability", supported="?", **values
        )
    if have >= required:
        return None
    supported = sorted(p for p, cc in s.min_compute_capability.items() if have >= cc)
    message = f"{req.precision} needs compute capability {needed} or newer; {_product(caps)} has {text}"
    return reason(check, Status.FAIL, message, cc=text, supported=", ".join([*supported, "fp16"]), **values)


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
        return reason(check, Status.WARN, message, node_gpu="an unknown GPU", **values)
    have = caps.gpu_product
    if gpus.family(wanted) != gpus.family(have):
        message = f"profile {req.profile} was built for {wanted}; the node has {have}"
        return reason(check, Status.FAIL, message, node_gpu=have, **values)
    if "-" in wanted and "-" in have and wanted != have:
        message = f"profile {req.profile} was built for {wanted}, another variant of the node's {have}"
        return reason(check, Status.WARN, message, node_gpu=have, **values)
    return None


@placement_rule("NIM-FIT-009")
def mig(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """MIG-partitioned GPUs: a small model on one GPU warns, anything else fails."""
    if caps.mig_enabled is not True:
        return None
    small = (
        req.params_b is not None
        and req.params_b <= s.mig_max_params_b
        and req.tensor_parallel * req.pipeline_parallel == 1
    )
    outcome = "may use a MIG instance only if its NIM version supports MIG" if small else "needs whole GPUs"
    message = f"MIG is enabled on this node's GPUs; {_model(req)} at TP {req.tensor_parallel} {outcome}"
    return reason(s.checks["NIM-FIT-009"], Status.WARN if small else Status.FAIL, message)


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
        return reason(check, Status.WARN, message, current="unknown", **values)
    if soft is None or soft >= required:
        return None
    message = f"containerd's open-file soft limit is {soft}; {_model(req)} needs at least {required}"
    return reason(check, Status.FAIL, message, current=soft, **values)


@placement_rule("NIM-FIT-006")
def one_node(caps: Capabilities, req: Requirement, s: Settings) -> Reason | None:
    """A single-node requirement fits one node of this shape; else name the multi-node layout."""
    if not req.single_node:
        return None
    total, per_gpu = weights_total(req), budget(caps, s)
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
    if total is not None and per_gpu is not None and per_gpu > 0:
        stages = max(stages, math.ceil(total / (tensor * per_gpu)))
    if too_big and total is not None and per_gpu is not None:
        message = (
            f"{_model(req)} takes {gb(total)} of weights; one node here holds at most "
            f"{gb(max_tp * per_gpu)} ({max_tp} GPUs x {gb(per_gpu)})"
        )
    else:
        message = (
            f"tensor parallel {req.tensor_parallel} x pipeline {req.pipeline_parallel} needs "
            f"{req.tensor_parallel * req.pipeline_parallel} GPUs; the node has {caps.gpu_count}"
        )
    pvc = gb(req.cache_pvc_bytes) if req.cache_pvc_bytes else "the model's size"
    return reason(
        s.checks["NIM-FIT-006"],
        Status.FAIL,
        message,
        tensor=tensor,
        pipeline=stages,
        total=tensor * stages,
        pvc=pvc,
    )
