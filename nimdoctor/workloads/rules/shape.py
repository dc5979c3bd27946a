"""The shape of a service: how many pods, which cache and PVC, how many GPUs, which nodes it may use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nimdoctor.workloads.model import (
    FieldPath,
    NodeInfo,
    PvcInfo,
    Subject,
    World,
    pvc_name,
)
from nimdoctor.workloads.readers import at, mapping, text, whole
from nimdoctor.workloads.rules.names import LIVE_ONLY, find_pvc

GPU = "nvidia.com/gpu"
# Device-plugin resources that are whole GPUs: `nvidia.com/pgpu` is a GPU passed through to a confidential
# computing VM (GPU Operator sandbox workloads); `nvidia.com/mig-<profile>` a MIG device each.
PGPU = "nvidia.com/pgpu"
GPU_RESOURCES = (GPU, PGPU)
MIG_PREFIX = "nvidia.com/mig-"


def node_selector(spec: Mapping[str, Any]) -> dict[str, str]:
    """`spec.nodeSelector` as strings."""
    return {str(k): str(v) for k, v in mapping(spec.get("nodeSelector")).items() if v is not None}


def matching_nodes(nodes: Sequence[NodeInfo], selector: Mapping[str, str]) -> list[NodeInfo]:
    """Nodes whose labels carry every key/value of `selector`."""
    return [n for n in nodes if all(n.labels.get(k) == v for k, v in selector.items())]


def pod_count(spec: Mapping[str, Any]) -> tuple[int, str]:
    """The most pods a NIMService runs at once, and why (replicas, HPA max, multi-node group)."""
    reasons = []
    group = 1
    if spec.get("multiNode") is not None:
        group = whole(at(spec, "multiNode", "parallelism", "pipeline")) or 1
        reasons.append(f"multiNode: {group} pods per group")
    if at(spec, "scale", "enabled") is True:
        count = whole(at(spec, "scale", "hpa", "maxReplicas")) or 1
        reasons.insert(0, f"HPA maxReplicas {count}")
    else:
        replicas = whole(spec.get("replicas"))
        count = 1 if replicas is None else replicas
        if count > 1:
            reasons.insert(0, f"replicas {count}")
    return count * group, ", ".join(reasons) or "one replica"


def cache_name(subject: Subject) -> str | None:
    """The NIMCache a NIMService references."""
    return text(at(subject.spec, "storage", "nimCache", "name"))


def cache_source(subject: Subject, world: World) -> str | None:
    """`ngc`, `hf` or `dataStore`: the subject's own source (NIMCache) or its cache's (NIMService)."""
    if subject.kind == "NIMService":
        name = cache_name(subject)
        cache = world.cache(subject.ref.namespace, name) if name else None
        if cache is None:
            return None
        subject = cache
    source = mapping(subject.spec.get("source"))
    return next((k for k in ("ngc", "hf", "dataStore") if source.get(k) is not None), None)


def live_pvc(subject: Subject, world: World) -> PvcInfo | None:
    """The subject's own PVC as the cluster has it, else as the lint input defines it (None: neither)."""
    return find_pvc(world, subject.ref.namespace, pvc_name(subject))


def volume_owner(subject: Subject, world: World) -> tuple[Subject | None, str]:
    """Whose `storage.pvc` holds the model for this subject: itself, or its NIMCache (with a label)."""
    name = cache_name(subject) if subject.kind == "NIMService" else None
    if name is None:
        return subject, f"PVC {pvc_name(subject)}"
    cache = world.cache(subject.ref.namespace, name)
    if cache is None:
        return None, f"NIMCache {name}"
    return cache, f"NIMCache {name}'s PVC {pvc_name(cache)}"


def gpu_count(spec: Mapping[str, Any]) -> tuple[int | None, FieldPath | None]:
    """A hand-set GPU count (limits, else requests) and where it is: `nvidia.com/gpu`, `nvidia.com/pgpu`
    (a passed-through GPU, confidential computing) or one `nvidia.com/mig-<profile>` (a MIG device each)."""
    for part in ("limits", "requests"):
        values = mapping(at(spec, "resources", part))
        for key in sorted(map(str, values)):
            if key in GPU_RESOURCES or key.startswith(MIG_PREFIX):
                return whole(values[key]), ("resources", part, key)
    return None, None


def dra_gpus(subject: Subject, world: World) -> tuple[int | None, str]:
    """GPUs per pod from `spec.draResources`, and how they were counted.

    Counted by placement's reader (`placement.dra`), so that lint and placement agree: a `claimCreationSpec`
    gives its `gpu.nvidia.com` devices, `count` each (default 1, [NVIDIA] dra_types.go); a claim or template
    the lint input defines gives its GPU requests (only the entry's `requests`, when named). What has no
    exact count (a claim not in the input, `allocationMode: All`, `firstAvailable`, no GPU device, a malformed
    entry) counts as 1, the operator's default, and the second value says so.
    """
    from nimdoctor.placement import RequirementError
    from nimdoctor.placement.claim_specs import ClaimError

    entries = subject.spec.get("draResources")
    if not isinstance(entries, list) or not entries:
        return None, ""
    total, notes = 0, []
    for index, entry in enumerate(entries):
        where = f"spec.draResources[{index}]"
        try:
            count, note = _entry_gpus(entry, where, subject, world)
        except (RequirementError, ClaimError) as exc:
            count, note = None, f"{where} is unreadable ({exc}), counted as 1"
        total += count or 1
        notes += [note] if not count else []
    return total, "; ".join(["spec.draResources", *notes])


def _entry_gpus(entry: Any, where: str, subject: Subject, world: World) -> tuple[int | None, str]:
    """One `draResources` entry's exact GPU count, else None and why it counts as 1."""
    from nimdoctor.placement.claim_specs import CLAIM, TEMPLATE, ClaimError, claim_spec_of
    from nimdoctor.placement.dra import ClaimRef, claimed_gpus, nimservice_claims

    if not isinstance(entry, Mapping):
        raise ClaimError("must be a mapping")
    if entry.get("resourceClaimName") is None and entry.get("resourceClaimTemplateName") is None:
        created = nimservice_claims({"draResources": [entry]}, subject.ref.name)
        count = created.count if created else None
        return count, f"{where} asks for no gpu.nvidia.com device, counted as 1"
    kind = TEMPLATE if entry.get("resourceClaimTemplateName") else CLAIM
    name = text(entry.get("resourceClaimTemplateName") or entry.get("resourceClaimName")) or ""
    claims = world.inputs.claims if world.inputs is not None else {}
    claim = claims.get((kind, subject.ref.namespace, name))
    if claim is None:
        return None, f"{kind} {name} counted as 1 device"
    spec = claim_spec_of(kind, claim)
    wanted = [str(r) for r in entry.get("requests") or [] if isinstance(r, str)]
    refs = [ClaimRef(kind, name, r) for r in wanted] or [ClaimRef(kind, name)]
    claimed = claimed_gpus(refs, subject.ref.namespace or "", lambda *_: spec)
    why = {"all": "takes every matching GPU of its node", "unknown": "has alternatives (firstAvailable)"}
    inexact = why.get(claimed.mode, "asks for no gpu.nvidia.com device")
    return (claimed.count if claimed.mode == "count" else None), f"{kind} {name} {inexact}, counted as 1"


def gpus_per_pod(subject: Subject, world: World) -> tuple[int | None, str]:
    """The GPUs a pod gets from any path: a GPU, pGPU or MIG resource, DRA, else the profile's TP x PP."""
    count, field = gpu_count(subject.spec)
    if field is not None:
        return count, f"spec.{'.'.join(map(str, field))}"
    dra, how = dra_gpus(subject, world)
    if dra is not None:
        return dra, how
    return profile_gpus(subject, world)


def profile_gpus(subject: Subject, world: World) -> tuple[int | None, str]:
    """The GPUs per pod the selected profile or parallelism asks for, and where that comes from."""
    from nimdoctor.placement import parse_profile

    spec = subject.spec
    if spec.get("multiNode") is not None:
        tensor = whole(at(spec, "multiNode", "parallelism", "tensor"))
        if tensor:
            return tensor, "spec.multiNode.parallelism.tensor"
    profile = text(at(spec, "storage", "nimCache", "profile"))
    name = cache_name(subject)
    cache = world.cache(subject.ref.namespace, name) if name else None
    if profile:
        for entry in (cache.status.get("profiles") if cache else None) or []:
            config = mapping(at(entry, "config"))
            if at(entry, "name") == profile and whole(config.get("tp")):
                pp = whole(config.get("pp")) or 1
                return (whole(config["tp"]) or 1) * pp, f"NIMCache {name} status.profiles {profile}"
        parsed = parse_profile(profile)
        if parsed is not None and parsed.tp:
            return parsed.tp * (parsed.pp or 1), f"profile {profile}"
    if cache is not None:
        model = next(
            (at(cache.spec, "source", k, "model") for k in ("ngc", "hf", "dataStore")),
            None,
        )
        tp = whole(at(model, "tensorParallelism"))
        if tp:
            return tp, f"NIMCache {name} tensorParallelism"
    return None, ""


def tensor_parallel(subject: Subject, world: World) -> int:
    """Tensor-parallel size per pod: the profile's or parallelism's, else the GPU count, else 1."""
    expected, _ = profile_gpus(subject, world)
    if expected:
        return expected
    count, _ = gpus_per_pod(subject, world)
    return count or 1


def _allowed(subject: Subject, world: World) -> set[str] | None:
    """The nodes the subject's node selector allows (None: any, or the nodes are not known)."""
    selector = node_selector(subject.spec)
    nodes = world.cluster.nodes if world.cluster is not None else None
    return {n.name for n in matching_nodes(nodes, selector)} if selector and nodes is not None else None


def unusable_nodes(subject: Subject, world: World) -> dict[str, str]:
    """The nodes the subject may run on whose NodeReport is not used (invalid, or simulated), and why."""
    if world.cluster is None:
        return {}
    allowed = _allowed(subject, world)
    unusable = world.cluster.unusable_reports
    return {name: why for name, why in sorted(unusable.items()) if allowed is None or name in allowed}


def fresh_nodes(subject: Subject, world: World) -> tuple[list[tuple[str, Any]], str | None]:
    """(node, capabilities) of fresh NodeReports the subject's node selector allows, or why there are none."""
    cluster = world.cluster
    if cluster is None:
        return [], LIVE_ONLY
    if cluster.reports is None:
        return [], f"NodeReports not readable: {cluster.errors.get('nodereports', 'unknown error')}"
    allowed = _allowed(subject, world)
    nodes = [
        (name, record.capabilities)
        for name, record in sorted(cluster.reports.items())
        if allowed is None or name in allowed
    ]
    if not nodes:
        unusable = unusable_nodes(subject, world)
        if unusable:
            name, why = next(iter(unusable.items()))
            used = f"{len(unusable)} not used, e.g. {name}: {why}"
            return [], f"no usable NodeReport for the nodes it may run on: {used}"
        stale = f" ({cluster.stale_reports} stale)" if cluster.stale_reports else ""
        return (
            [],
            f"no fresh NodeReport{stale} for the nodes it may run on: is the nimdoctor agent installed?",
        )
    return nodes, None
