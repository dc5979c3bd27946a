"""NIM-WL-013, 017 and 018: which nodes the cache job and the service land on, and with which scheduler."""

from __future__ import annotations

from msgspec import UNSET

from nimdoctor.catalog import Check
from nimdoctor.report import Status
from nimdoctor.workloads.model import (
    Judged,
    Subject,
    World,
)
from nimdoctor.workloads.readers import text
from nimdoctor.workloads.rules.base import (
    judged,
    requirement,
    skip_unless,
    workload_rule,
)
from nimdoctor.workloads.rules.names import LIVE_ONLY
from nimdoctor.workloads.rules.shape import (
    gpus_per_pod,
    matching_nodes,
    node_selector,
)


def cache_selector(subject: Subject, check13: Check) -> tuple[dict[str, str], bool]:
    """The NIMCache job's node selector and whether it is the operator's default."""
    selector = node_selector(subject.spec)
    if selector:
        return selector, False
    return {str(check13.params["nfdLabel"]): "true"}, True


@workload_rule("NIM-WL-013")
def cache_selector_matches(subject: Subject, world: World, check: Check) -> Judged:
    """Some node matches the NIMCache job's node selector (by default NFD's pci-10de.present)."""
    if (skip := skip_unless(subject, "NIMCache", check)) is not None:
        return skip
    selector, default = cache_selector(subject, check)
    field = None if default else ("nodeSelector",)
    shown = ", ".join(f"{k}={v}" for k, v in selector.items())
    if world.cluster is None:
        return judged(check, Status.SKIP, f"node selector {shown}: {LIVE_ONLY}", field)
    nodes = world.cluster.nodes
    if nodes is None:
        return judged(
            check, Status.SKIP, f"nodes not readable: {world.cluster.errors.get('nodes', '')}", field
        )
    matching = matching_nodes(nodes, selector)
    if matching:
        return judged(check, Status.PASS, f"{len(matching)} node(s) match {shown}", field)
    if default:
        message = (
            f"no node has {shown}, the cache job's default node selector: Node Feature Discovery is missing"
        )
        remedy = (
            "Install Node Feature Discovery (the GPU Operator deploys it unless nfd.enabled=false), or give "
            "the NIMCache a spec.nodeSelector your GPU nodes match, e.g.\n\n  spec:\n    nodeSelector:\n"
            '      nvidia.com/gpu.present: "true"\n\nA NIMCache\'s spec is immutable: create a new one.'
        )
    else:
        message = f"no node matches spec.nodeSelector {shown}: the cache job stays Pending"
        remedy = "Fix spec.nodeSelector to labels your GPU nodes carry (kubectl get nodes --show-labels)."
    return judged(check, Status.FAIL, message, field, {"selector": selector}, remedy=remedy)


@workload_rule("NIM-WL-017")
def cache_job_open_files(subject: Subject, world: World, check: Check) -> Judged:
    """A ~49B+ model's cache job can land only on nodes whose containerd soft open-file limit is enough."""
    if (skip := skip_unless(subject, "NIMCache", check)) is not None:
        return skip
    req, error = requirement(subject, world)
    if req is None or req.params_b is None:
        return judged(check, Status.SKIP, f"model size unknown{': ' + error if error else ''}")
    if req.min_nofile is None:
        return judged(check, Status.SKIP, f"{req.model} ({req.params_b:g}B) is below the large-model size")
    label = str(check.params["nofileOkLabel"])
    selector, default = cache_selector(subject, world.catalog.get("NIM-WL-013"))
    field = None if default else ("nodeSelector",)
    if selector.get(label) == "true":
        return judged(check, Status.PASS, f"the node selector keeps the job on {label}=true nodes", field)
    if world.cluster is None:
        return judged(
            check, Status.SKIP, f"{req.model} needs {req.min_nofile} open files: {LIVE_ONLY}", field
        )
    nodes = world.cluster.nodes
    if nodes is None:
        return judged(
            check, Status.SKIP, f"nodes not readable: {world.cluster.errors.get('nodes', '')}", field
        )
    reports = world.cluster.reports or {}
    low: list[str] = []
    unknown: list[str] = []
    for node in matching_nodes(nodes, selector):
        record = reports.get(node.name)
        soft = record.capabilities.nofile_soft if record is not None else UNSET
        if soft is UNSET:
            flag = node.labels.get(label)
            if flag == "false":
                low.append(node.name)
            elif flag != "true":
                unknown.append(node.name)
        elif soft is not None and soft < req.min_nofile:
            low.append(node.name)
    evidence = {"lowNodes": low, "unknownNodes": unknown, "required": req.min_nofile}
    if low:
        extra = "".join(f'\n    {k}: "{v}"' for k, v in selector.items() if k != label and not default)
        message = (
            f"{req.model} ({req.params_b:g}B) caches on nodes {', '.join(low[:5])}"
            f"{' and more' if len(low) > 5 else ''} whose containerd soft open-file limit is below "
            f"{req.min_nofile}: the download dies with 'Too many open files'"
        )
        return judged(
            check,
            Status.FAIL,
            message,
            field,
            evidence,
            nodes=len(low),
            required=req.min_nofile,
            label=label,
            extra_selector=extra,
        )
    if unknown:
        return judged(
            check, Status.SKIP, f"{len(unknown)} node(s) report no open-file limit", field, evidence
        )
    return judged(
        check, Status.PASS, f"every node the job can land on allows {req.min_nofile} open files", field
    )


@workload_rule("NIM-WL-018")
def uses_nim_scheduler(subject: Subject, world: World, check: Check) -> Judged:
    """Where nimdoctor's scheduler is installed, GPU NIMServices name it in spec.schedulerName."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    if world.cluster is None:
        return judged(check, Status.SKIP, LIVE_ONLY)
    if world.cluster.scheduler_installed is not True:
        return judged(check, Status.SKIP, "nimdoctor's scheduler is not installed")
    count, _ = gpus_per_pod(subject, world)
    if not count:
        return judged(check, Status.SKIP, "not a GPU service")
    scheduler = str(check.params["schedulerName"])
    current = text(subject.spec.get("schedulerName"))
    if current == scheduler:
        return judged(check, Status.PASS, f"uses {scheduler}", ("schedulerName",))
    message = f"uses {'scheduler ' + current if current else 'the default scheduler'}, not {scheduler}"
    return judged(check, Status.WARN, message, ("schedulerName",) if current else None, scheduler=scheduler)
