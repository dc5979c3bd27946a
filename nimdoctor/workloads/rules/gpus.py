"""NIM-WL-010..012 and 016: the GPUs a service asks for, whether a node has them, DRA, shared memory."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from nimdoctor.catalog import Check
from nimdoctor.report import Status
from nimdoctor.workloads.model import (
    FieldPath,
    Judged,
    Subject,
    World,
    operator_version,
    parse_quantity,
    parse_version,
    version_text,
)
from nimdoctor.workloads.readers import at, mapping, whole
from nimdoctor.workloads.rules.admission import operator_check_at
from nimdoctor.workloads.rules.base import (
    judged,
    requirement,
    skip_unless,
    workload_rule,
)
from nimdoctor.workloads.rules.names import LIVE_ONLY
from nimdoctor.workloads.rules.shape import (
    GPU,
    dra_gpus,
    fresh_nodes,
    gpu_count,
    profile_gpus,
    tensor_parallel,
    unusable_nodes,
)

# The node label nimdoctor's agent sets to a node's largest NVLink clique.
NVLINK_LABEL = "nimdoctor.io/nvlink-clique"


@workload_rule("NIM-WL-010")
def gpu_count_matches_profile(subject: Subject, world: World, check: Check) -> Judged:
    """A hand-set `nvidia.com/gpu` equals the GPUs the profile or multi-node tensor size needs per pod."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    count, field = gpu_count(subject.spec)
    resource = str(field[-1]) if field is not None else ""
    if field is None:
        dra, how = dra_gpus(subject, world)
        if dra is None:
            return judged(
                check, Status.SKIP, f"{GPU} is not set by hand: the operator sets it from the profile"
            )
        if how != "spec.draResources":  # a claim outside the input: its device count is unknown
            return judged(check, Status.SKIP, f"GPUs from DRA: {how}", ("draResources",))
        count, field, resource = dra, ("draResources",), "draResources devices"
    if count is None:
        return judged(
            check, Status.FAIL, f"{resource} is not a whole number", field, expected="?", source="?"
        )
    expected, source = profile_gpus(subject, world)
    if expected is None:
        return judged(
            check, Status.SKIP, "no profile, tensorParallelism or multi-node tensor size to compare"
        )
    if count != expected:
        more = "NIM fails at start" if count < expected else "the extra GPUs sit idle"
        message = f"{resource}: {count}, but {source} needs {expected} per pod: {more}"
        return judged(
            check,
            Status.FAIL,
            message,
            field,
            {"gpus": count, "expected": expected},
            expected=expected,
            source=source,
        )
    return judged(check, Status.PASS, f"{resource}: {count} matches {source}", field)


@workload_rule("NIM-WL-011")
def model_fits_a_node(subject: Subject, world: World, check: Check) -> Judged:
    """Placement over the cluster's NodeReports finds at least one node the model fits."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    nodes, why = fresh_nodes(subject, world)
    if why:
        return judged(check, Status.SKIP, why)
    from nimdoctor.placement import first_failure, fit_nodes

    req, error = requirement(subject, world)
    if req is None:
        return judged(check, Status.ERROR, f"cannot derive what the model needs: {error}")
    verdicts = fit_nodes([caps for _, caps in nodes], req, world.catalog)
    fitting = [name for (name, _), v in zip(nodes, verdicts, strict=True) if v.fits is True]
    if fitting:
        return judged(check, Status.PASS, f"fits {len(fitting)} of {len(nodes)} node(s), e.g. {fitting[0]}")
    # A node whose report is not used (invalid, or simulated) is unknown, as the extender treats it.
    unusable = unusable_nodes(subject, world)
    unknown = [name for (name, _), v in zip(nodes, verdicts, strict=True) if v.fits is None] + list(unusable)
    # No verdict here is a fit, so each has a failure (or an error) deciding it.
    deciding = [r for r in map(first_failure, (v.reasons for v in verdicts)) if r is not None]
    counts: dict[str, int] = {}
    for reason in [r.short for r in deciding] + list(unusable.values()):
        counts[reason] = counts.get(reason, 0) + 1
    summary = "; ".join(f"{n} node(s): {short}" for short, n in sorted(counts.items(), key=lambda i: -i[1]))
    evidence = {"nodes": len(nodes) + len(unusable), "unknown": unknown, "reasons": counts}
    if unknown:
        return judged(
            check,
            Status.WARN,
            f"fits no node for sure; {len(unknown)} could not be judged",
            None,
            evidence,
            detail=summary,
            model=req.model,
        )
    errors = all(r.status is Status.ERROR for r in deciding)
    detail = f"{summary}\nOn such a node: {deciding[0].fix}" if deciding else summary
    return judged(
        check,
        Status.ERROR if errors else Status.FAIL,
        f"{req.model} fits none of {len(nodes)} node(s): {summary}",
        None,
        evidence,
        detail=detail,
        model=req.model,
    )


@workload_rule("NIM-WL-012")
def dra_cluster_version(subject: Subject, world: World, check: Check) -> Judged:
    """`draResources` only on a Kubernetes the operator runs DRA on (1.34 for 3.1, 1.33 for 3.0)."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    if not subject.spec.get("draResources"):
        return judged(check, Status.SKIP, "no draResources")
    table = sorted(
        (operator_version(str(op)), parse_version(str(k8s)) or (0,))
        for op, k8s in mapping(check.params["minKubernetes"]).items()
    )
    eligible = [k8s for op, k8s in table if op <= world.operator_version]
    field: FieldPath = ("draResources",)
    operator = version_text(world.operator_version)
    if not eligible and (owner := operator_check_at(subject, world, field)) is not None:
        # The operator's CRDs have no draResources: NIM-OP-002 says the field is unknown and dropped.
        return judged(check, Status.SKIP, f"{owner} reports spec.draResources as the operator does", field)
    if not eligible:
        return judged(
            check,
            Status.FAIL,
            f"operator {operator} has no draResources",
            field,
            have="?",
            need="3.0.0",
            operator=operator,
        )
    need = eligible[-1]
    if world.cluster is None:
        return judged(check, Status.SKIP, f"needs Kubernetes {version_text(need)}: {LIVE_ONLY}", field)
    have = world.cluster.version
    if have is None:
        return judged(check, Status.SKIP, "the cluster's version is unknown", field)
    values: dict[str, Any] = {"have": version_text(have), "need": version_text(need), "operator": operator}
    if have < need:
        message = f"draResources need Kubernetes {version_text(need)}; the cluster runs {version_text(have)}"
        return judged(check, Status.FAIL, message, field, **values)
    return judged(check, Status.PASS, f"Kubernetes {version_text(have)} supports draResources", field)


def node_clique(name: str, caps: Any, world: World) -> int | None:
    """A node's largest NVLink clique: its NodeReport's, else the agent's node label."""
    if caps is not None and caps.max_nvlink_clique is not UNSET:
        return int(caps.max_nvlink_clique)
    nodes = world.cluster.nodes if world.cluster is not None else None
    for node in nodes or ():
        if node.name == name:
            return whole(node.labels.get(NVLINK_LABEL))
    return None


@workload_rule("NIM-WL-016")
def shared_memory_without_nvlink(subject: Subject, world: World, check: Check) -> Judged:
    """TP > 1 where no node has an NVLink clique that large needs sharedMemorySizeLimit >= 16Gi."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    tp = tensor_parallel(subject, world)
    if tp <= 1:
        return judged(check, Status.SKIP, "one GPU per pod")
    minimum = str(check.params["minSharedMemory"])
    limit = at(subject.spec, "storage", "sharedMemorySizeLimit")
    shm = parse_quantity(limit)
    if shm is not None and shm >= (parse_quantity(minimum) or 0):
        return judged(check, Status.PASS, f"sharedMemorySizeLimit {limit} for TP {tp}")
    field: FieldPath = ("storage", "sharedMemorySizeLimit") if limit is not None else ("storage",)
    have = f"sharedMemorySizeLimit {limit}" if limit is not None else "no sharedMemorySizeLimit"
    nodes, why = fresh_nodes(subject, world)
    if why:
        return judged(check, Status.SKIP, f"TP {tp} with {have}; NVLink: {why}", field)
    cliques = {name: node_clique(name, caps, world) for name, caps in nodes}
    known = {name: c for name, c in cliques.items() if c is not None}
    if not known:
        return judged(check, Status.SKIP, "no node reported its NVLink cliques", field)
    linked = [name for name, c in known.items() if c >= tp]
    if linked:
        return judged(check, Status.PASS, f"{len(linked)} node(s) have an NVLink clique of {tp} GPUs", field)
    largest = max(known.values())
    detail = f"Tensor parallel {tp} and no node has an NVLink clique of {tp} GPUs (largest: {largest})."
    message = f"TP {tp} without NVLink and {have}: NCCL falls back to /dev/shm, which needs {minimum}"
    return judged(check, Status.FAIL, message, field, {"cliques": known}, detail=detail, shm=minimum, tp=tp)
