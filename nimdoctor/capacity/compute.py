"""How many replicas of a model fit a fleet now, where, and what each fix on a node would add.

Per node, in this order:
1. placement decides: `placement.place` for a model by name (the TP search over `fit`, the function the
   extender calls), `fit` itself for a fixed requirement (a NIMService's, NIM-WL-020): the TP, the
   precision and, when the model does not fit, the first failing reason;
2. the node's devices of the kind a pod asks for (`nvidia.com/gpu`, or `nvidia.com/mig-<profile>` for a MIG
   request under the mixed strategy): the report's count, capped by the Node's allocatable when it is known,
   less what its non-terminated pods hold (`nimdoctor.capacity.pods`);
3. replicas in the free devices. A TP > 1 replica of whole GPUs needs TP free GPUs in one NVLink clique when
   the node has cliques that large (on a node without, fit already cautions that TP runs over PCIe, and any
   free GPUs do). Which GPUs are free is known when the report's "GPUs in use" (`capacity.layout`) are as
   many as the pods hold, or when nothing is held; otherwise the clique check assumes any free GPUs form a
   clique, and the node says so (`cliqueCheck: assumed`).

A multi-node model (`pp` > 1 over nodes) runs as groups of `pp` pods on `pp` different nodes, `tp` GPUs
each: a node offers pods, the fleet counts whole groups.

Unlock: for each failing check a fix on the node removes (`FIXES`), the node's capabilities are corrected
as the fix would leave them, placement runs again, and the replicas counted as above (with the report's
device count: a fixed node's device plugin advertises every GPU the report counts). A node that needs two
fixes appears under neither: each row is that one fix alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import msgspec
from msgspec import UNSET

from nimdoctor.capacity.document import Capacity, CapacityNode, CliqueCheck, NodeStatus, Source, Unlock
from nimdoctor.capacity.layout import GpuLayout
from nimdoctor.capacity.pods import GPU, MIG_PREFIX, Held
from nimdoctor.catalog import Catalog
from nimdoctor.cluster.nodereport import NodeRecord
from nimdoctor.placement import ModelRequest, first_failure, fit, place
from nimdoctor.placement.settings import settings
from nimdoctor.placement.variants import for_node, mig_slice, single_strategy_slice
from nimdoctor.report import Capabilities, Placement, Requirement, Status


@dataclass(frozen=True)
class NodeInput:
    """One node as read: its report, GPU layout, the Node's allocatable devices (None: not read), and why it
    cannot be judged (`problem`: a stale or unreadable report, no Node)."""

    name: str
    record: NodeRecord | None
    layout: GpuLayout | None = None
    allocatable: Mapping[str, int] | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Fleet:
    """Everything capacity reads: nodes, the devices pods hold (None: pods not read), and where from."""

    nodes: list[NodeInput]
    held: Held | None
    source: Source
    notes: tuple[str, ...] = ()


def _ready(caps: Capabilities, served: Requirement, whole_gpus: bool) -> Capabilities | None:
    return msgspec.structs.replace(caps, ready=True) if not caps.ready else None


def _open_files(caps: Capabilities, served: Requirement, whole_gpus: bool) -> Capabilities | None:
    if served.min_nofile is None:
        return None
    return msgspec.structs.replace(caps, nofile_soft=served.min_nofile, nofile_unlimited=False)


def _passthrough(caps: Capabilities, served: Requirement, whole_gpus: bool) -> Capabilities | None:
    return (
        msgspec.structs.replace(caps, virtualization="passthrough") if caps.virtualization == "vgpu" else None
    )


def _mig_off(caps: Capabilities, served: Requirement, whole_gpus: bool) -> Capabilities | None:
    if not whole_gpus or caps.mig_enabled is not True:
        return None
    return msgspec.structs.replace(caps, mig_enabled=False, mig_slices=UNSET, mig_strategy=UNSET)


Correction = Callable[[Capabilities, Requirement, bool], Capabilities | None]
# Failures a change on the node itself removes, and the capabilities that change leaves: readiness (the
# failing node checks fixed), containerd's open-file limit raised to what the check asks, vGPU moved to
# passthrough (NVLink / vGPU peer-to-peer), MIG turned off for a whole-GPU model.
FIXES: dict[str, Correction] = {
    "NIM-FIT-008": _ready,
    "NIM-FIT-005": _open_files,
    "NIM-FIT-004": _passthrough,
    "NIM-FIT-003": _passthrough,
    "NIM-FIT-009": _mig_off,
}
FIX_ASSUMES = {
    "NIM-FIT-008": "the node's failing critical checks fixed: the node ready",
    "NIM-FIT-005": "containerd's open-file soft limit raised to what NIM-FIT-005 asks",
    "NIM-FIT-004": "the vGPUs moved to passthrough (the GPUs' memory as the report saw it)",
    "NIM-FIT-003": "the vGPUs moved to passthrough (the GPUs' memory as the report saw it)",
    "NIM-FIT-009": "MIG turned off: every GPU whole",
}


@dataclass(frozen=True)
class _Count:
    """One node's answer under some capabilities."""

    placement: Placement | None
    status: NodeStatus
    replicas: int = 0  # pods: replicas, or members of multi-node groups
    devices: int | None = None
    free: int | None = None
    resource: str = GPU
    clique_check: CliqueCheck | None = None
    check: str | None = None
    reason: str | None = None


def _resource(caps: Capabilities, served: Requirement) -> tuple[str, int | None]:
    """The device resource a pod asks for on this node, and how many the report counts."""
    if served.mig_profile is None:
        return GPU, None if caps.gpu_count is UNSET else caps.gpu_count
    found = mig_slice(caps, served.mig_profile)
    count = found.count if found is not None else 0
    if single_strategy_slice(caps) is not None:  # the device plugin advertises MIG devices as nvidia.com/gpu
        return GPU, count
    return MIG_PREFIX + served.mig_profile, count


def _taken(layout: GpuLayout, held: int, devices: int, gpu_count: int) -> frozenset[int] | None:
    """The GPUs pods hold, when the report says which: none held, or as many in use as the pods hold."""
    if devices != gpu_count:
        return None  # the Node advertises fewer GPUs than the report counts: which ones is unknown
    if held == 0:
        return frozenset()
    if layout.in_use is not None and len(layout.in_use) == held:
        return layout.in_use
    return None


def _clique_slots(cliques: tuple[frozenset[int], ...], taken: frozenset[int], tp: int) -> int:
    """TP-sized groups of free GPUs, each inside one clique (cliques may overlap: a GPU is used once)."""
    used: set[int] = set(taken)
    slots = 0
    for clique in sorted(cliques, key=len, reverse=True):
        free = sorted(clique - used)
        groups = len(free) // tp
        used.update(free[: groups * tp])
        slots += groups
    return slots


def _pods_in(
    caps: Capabilities, served: Requirement, layout: GpuLayout | None, devices: int, held: int, free: int
) -> tuple[int, CliqueCheck]:
    """Pods of `served` that fit the free devices, and how cliques were checked."""
    per_pod = max(served.gpus, 1)
    tp = served.tensor_parallel
    if served.mig_profile is not None or tp <= 1:
        return free // per_pod, "not-needed"
    clique = caps.max_nvlink_clique
    if clique is UNSET or layout is None or caps.gpu_count is UNSET:
        return free // per_pod, "assumed"
    if clique < tp:
        return free // per_pod, "pcie"
    if any(len(members) >= caps.gpu_count for members in layout.cliques):
        return free // per_pod, "exact"  # one clique holds every GPU (NVSwitch): any free GPUs share it
    taken = _taken(layout, held, devices, caps.gpu_count)
    if taken is None:
        return free // per_pod, "assumed"
    stages = served.pipeline_parallel if served.single_node else 1
    return min(_clique_slots(layout.cliques, taken, tp) // stages, free // per_pod), "exact"


Placer = Callable[[Capabilities], Placement]


def model_placer(request: ModelRequest, catalog: Catalog) -> Placer:
    """A model by name: `place` chooses the TP per node (as `run --model` and `plan` do)."""
    return lambda caps: place(caps, request, catalog)


def requirement_placer(requirement: Requirement, catalog: Catalog) -> Placer:
    """A fixed requirement (a NIMService's, its TP set by its profile or resources): `fit` judges it."""
    limits = settings(catalog)

    def placer(caps: Capabilities) -> Placement:
        verdict = fit(caps, requirement, catalog)
        served = for_node(requirement, caps, limits)
        return Placement(
            model=requirement.model, fits=verdict.fits, requirement=served, reasons=list(verdict.reasons)
        )

    return placer


class NodeCounter:
    """Counts nodes for one model; placements are memoised per capabilities value (a fleet has a few node
    shapes)."""

    def __init__(self, placer: Placer, held: Held | None) -> None:
        self.placer = placer
        self.held = held
        self._placements: dict[Capabilities, Placement] = {}

    def placement(self, caps: Capabilities) -> Placement:
        """The placement of the model on these capabilities (memoised)."""
        found = self._placements.get(caps)
        if found is None:
            found = self._placements[caps] = self.placer(caps)
        return found

    def count(self, node: NodeInput, caps: Capabilities, *, allocatable: bool = True) -> _Count:
        """The node's answer under `caps` (its own, or corrected by a fix)."""
        placement = self.placement(caps)
        served = placement.requirement
        resource, devices = _resource(caps, served)
        if devices is not None and allocatable and node.allocatable is not None:
            devices = min(devices, node.allocatable.get(resource, 0))
        unknown_pods = self.held.unknown.get(node.name) if self.held is not None else None
        held = self.held.devices.get(node.name, {}).get(resource, 0) if self.held is not None else 0
        free = None if devices is None or unknown_pods else max(devices - held, 0)
        counted = _Count(placement, "unknown", devices=devices, free=free, resource=resource)
        if placement.fits is not True:
            first = first_failure(placement.reasons)
            return dataclasses.replace(
                counted,
                status="blocked" if placement.fits is False else "unknown",
                check=first.id if first else None,
                reason=first.short if first else None,
            )
        if devices is None:
            return dataclasses.replace(counted, reason="the report does not count the node's GPUs")
        if free is None:
            return dataclasses.replace(counted, reason=f"what its pods hold is unknown: {unknown_pods}")
        pods, clique_check = _pods_in(caps, served, node.layout, devices, held, free)
        return dataclasses.replace(
            counted,
            status="fits" if pods else "full",
            replicas=pods,
            clique_check=clique_check,
            reason=None if pods else _shortage(served, resource, devices, free, clique_check),
        )


def _shortage(served: Requirement, resource: str, devices: int, free: int, clique_check: str) -> str:
    per_pod = max(served.gpus, 1)
    if free >= per_pod and clique_check == "exact":
        return (
            f"needs {served.tensor_parallel} free GPUs in one NVLink clique; {free} free, but no "
            f"{served.tensor_parallel} of them share one"
        )
    return f"needs {per_pod} {resource} per pod; {free} of {devices} free"


def groups(pods: list[int], size: int) -> int:
    """Whole groups of `size` pods, each pod of a group on a different node: the largest G with
    sum(min(pods_i, G)) >= G * size."""
    if size <= 1:
        return sum(pods)
    low, high = 0, sum(pods) // size
    while low < high:
        mid = (low + high + 1) // 2
        if sum(min(p, mid) for p in pods) >= mid * size:
            low = mid
        else:
            high = mid - 1
    return low


@dataclass(frozen=True)
class FleetCount:
    """A model's count over a fleet: whole replicas now, each node's row, and the unlock table."""

    replicas: int
    nodes: list[CapacityNode]
    unlock: list[Unlock]


def count_fleet(fleet: Fleet, requirement: Requirement, placer: Placer) -> FleetCount:
    """Count `requirement` (placed per node by `placer`) over `fleet`: see the module docstring."""
    counter = NodeCounter(placer, fleet.held)
    group = 1 if requirement.single_node else requirement.pipeline_parallel
    whole_gpus = requirement.mig_profile is None
    rows: list[CapacityNode] = []
    pods: dict[str, int] = {}
    gains: dict[str, dict[str, int]] = {}  # check -> node -> pods once fixed
    shorts: dict[str, str] = {}
    for node in sorted(fleet.nodes, key=lambda n: n.name):
        if node.record is None or node.problem is not None:
            rows.append(CapacityNode(node=node.name, status="unknown", reason=node.problem))
            continue
        caps = node.record.capabilities
        found = counter.count(node, caps)
        pods[node.name] = found.replicas
        fixes: list[str] = []
        if found.status == "blocked" and found.placement is not None:
            served = found.placement.requirement
            for reason in found.placement.reasons:
                fix = FIXES.get(reason.id)
                corrected = fix(caps, served, whole_gpus) if fix and reason.status is Status.FAIL else None
                if corrected is None or reason.id in fixes:
                    continue
                fixes.append(reason.id)
                shorts.setdefault(reason.id, reason.short.removeprefix(reason.id).strip())
                after = counter.count(node, corrected, allocatable=False)
                if after.replicas:
                    gains.setdefault(reason.id, {})[node.name] = after.replicas
        rows.append(_row(node, found, fixes))
    total = groups(list(pods.values()), group)
    unlock = []
    for check, nodes in sorted(gains.items()):
        more = groups(list({**pods, **nodes}.values()), group) - total
        if more > 0:
            unlock.append(
                Unlock(
                    check=check,
                    short=shorts[check],
                    assumes=FIX_ASSUMES[check],
                    nodes=sorted(nodes),
                    replicas=more,
                )
            )
    unlock.sort(key=lambda u: (-u.replicas, u.check))
    return FleetCount(replicas=total, nodes=rows, unlock=unlock)


def capacity(fleet: Fleet, request: ModelRequest, catalog: Catalog) -> Capacity:
    """The `Capacity` document of `request` over `fleet`."""
    requirement = request.requirement(catalog, request.tp)
    counted = count_fleet(fleet, requirement, model_placer(request, catalog))
    notes = list(fleet.notes)
    if fleet.held is None:
        notes.insert(0, "pods were not read (no --pods): every GPU counts as free")
    elif fleet.held.unplaced_errors:
        notes.append(
            f"{len(fleet.held.unplaced_errors)} pod(s) could not be read nor placed on a node, so what they "
            f"hold is not counted: {fleet.held.unplaced_errors[0]}"
        )
    return Capacity(
        model=request.model,
        resolved_model=requirement.model,
        requirement=requirement,
        source=fleet.source,
        pods_counted=fleet.held is not None,
        replicas=counted.replicas,
        pods_per_replica=1 if requirement.single_node else requirement.pipeline_parallel,
        nodes=counted.nodes,
        unlock=counted.unlock,
        unjudged=sum(1 for r in counted.nodes if r.status == "unknown"),
        notes=notes,
    )


def _row(node: NodeInput, found: _Count, fixes: list[str]) -> CapacityNode:
    served = found.placement.requirement if found.placement is not None else None
    return CapacityNode(
        node=node.name,
        status=found.status,
        replicas=found.replicas,
        tensor_parallel=served.tensor_parallel if served else None,
        pipeline_parallel=served.pipeline_parallel if served else None,
        precision=served.precision if served else None,
        gpus_per_replica=served.gpus if served else None,
        resource=found.resource,
        gpus=found.devices,
        free_gpus=found.free,
        clique_check=found.clique_check,
        check=found.check,
        reason=found.reason if found.replicas == 0 else None,
        fixes=fixes,
        failing_checks=list(node.record.failing) if node.record else [],
    )


def exit_code(document: Capacity) -> int:
    """0 when a replica fits; else 3 when a node could not be judged; else 1."""
    if document.replicas > 0:
        return 0
    return 3 if document.unjudged else 1
