"""The placement part of a report's table: what the model needs, beside what the GPU has, and why not.

Memory is printed in GiB, the unit NVML's MiB add up to, next to the GPU's own memory ("needs 47.1 GiB of
79.6 GiB"); never decimal GB against a card measured in GiB.
"""

from __future__ import annotations

from typing import Any

from nimdoctor.placement.variants import gpu_memory
from nimdoctor.render_base import STATUS_STYLE, fix_block, make_table, paragraph, styled
from nimdoctor.report import Capabilities, Placement, Requirement, Status
from nimdoctor.sanitize import clean_line
from nimdoctor.units import gib

FITS = {True: ("yes", "green"), False: ("no", "bold red"), None: ("unknown", STATUS_STYLE[Status.ERROR])}
_SIZE_SOURCE = {
    "catalog": "model catalog",
    "name": "read from the name: not in the model catalog",
    "declared": "declared",
    "annotation": "annotation",
}


def memory_need(
    need: int | None, device: int | None, served: int | None = None, context: int | None = None
) -> str:
    """What one GPU must have for the model at its full context, beside what it has: `needs 47.1 GiB of
    79.6 GiB`; where the engine serves a shorter context, that too: `...; serves 61,318 of 131,072 tokens`."""
    if need is None:
        return "<unknown>"
    have = "<unknown>" if device is None else gib(device)
    capped = served is not None and context is not None and served < context
    return f"needs {gib(need)} of {have}" + (f"; serves {served:,} of {context:,} tokens" if capped else "")


def requirement_lines(req: Requirement, caps: Capabilities) -> list[str]:
    """What the model needs, in short lines: size and layout, precision and why, memory per GPU."""
    if req.params_b is None:
        size = "size unknown"
    else:
        source = _SIZE_SOURCE.get(req.params_source or "", req.params_source or "")
        size = f"{req.params_b:g}B params ({source})" if source else f"{req.params_b:g}B params"
    layout = f"TP {req.tensor_parallel}"
    if req.pipeline_parallel > 1:
        nodes = "" if req.single_node else f" over {req.pipeline_parallel} nodes"
        layout += f" x PP {req.pipeline_parallel}{nodes}"
    devices = f"MIG {req.mig_profile} device(s)" if req.mig_profile else "GPU(s)"
    lines = [
        f"{size}, {layout}, {req.gpus} {devices} per pod, NVLink {req.nvlink}",
        f"precision {req.precision}" + (f" ({req.precision_reason})" if req.precision_reason else ""),
    ]
    if req.engine is not None:
        lines.append(f"engine {req.engine}" + (f" ({req.engine_reason})" if req.engine_reason else ""))
    if req.served_context is not None and req.max_context:
        lines.append(f"serves {req.served_context:,} of {req.max_context:,} tokens of context on this GPU")
    if req.gpu_memory_need_bytes is not None:
        if req.kv_bytes_per_token is None:
            kv = "KV cache not counted (architecture unknown)"
        elif req.max_context:
            kv_size = gib(req.kv_cache_per_gpu_bytes or 0)
            kv = f"KV cache {kv_size} ({req.max_context} tokens, {req.context_source})"
        else:
            kv = "no KV cache"
        pvc = gib(req.cache_pvc_bytes) if req.cache_pvc_bytes else "<unknown>"
        device = gpu_memory(caps, req)
        need = memory_need(req.gpu_memory_need_bytes, device, req.served_context, req.max_context)
        lines.append(
            f"per GPU: weights {gib(req.weights_per_gpu_bytes or 0)} + {kv} + overhead "
            f"{gib(req.overhead_per_gpu_bytes or 0)}: "
            f"{need}; cache PVC {pvc}"
        )
    return lines


def placement_section(
    console: Any, placement: Placement, caps: Capabilities, *, wide: bool, color: bool
) -> None:
    """The MODEL line, the requirement, the reasons table (wide adds SHORT) and each reason's fix."""
    from rich.text import Text

    word, style = FITS[placement.fits]
    fits = styled(word, style, color)
    tried = f"   (tried TP {', '.join(map(str, placement.tried))})" if placement.tried else ""
    console.print()
    console.print(Text.assemble("MODEL ", clean_line(placement.model), "   FITS ", fits, tried))
    for line in requirement_lines(placement.requirement, caps):
        paragraph(console, line, indent="  ")
    if not placement.reasons:
        return
    table = make_table(
        *(("reason", "status", "short", "message") if wide else ("reason", "status", "message"))
    )
    for r in placement.reasons:
        status = styled(r.status.value.upper(), STATUS_STYLE[r.status], color)
        table.add_row(*((r.id, status, r.short, r.message) if wide else (r.id, status, r.message)))
    console.print(table)
    for r in placement.reasons:
        console.print()
        fix_block(console, r.id, r.status, r.short.removeprefix(r.id).strip(), r.fix, color)
