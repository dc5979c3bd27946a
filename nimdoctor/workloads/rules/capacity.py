"""NIM-WL-020: an autoscaled NIMService's `scale.hpa.maxReplicas` against the replicas that could ever run.

Those are the service's replicas running now (its pods hold their GPUs, so the fleet does not count them
free) plus what `nimdoctor.capacity` counts for its requirement in the nodes its node selector allows. The
finding's evidence carries both numbers for the audit's `nimdoctor_model_capacity_replicas` metric.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from nimdoctor.capacity.compute import count_fleet, requirement_placer
from nimdoctor.catalog import Check
from nimdoctor.report import Status
from nimdoctor.workloads.model import Judged, Subject, World
from nimdoctor.workloads.readers import at, whole
from nimdoctor.workloads.rules.base import judged, requirement, skip_unless, workload_rule
from nimdoctor.workloads.rules.names import LIVE_ONLY
from nimdoctor.workloads.rules.shape import matching_nodes, node_selector

MAX_REPLICAS: tuple[str, ...] = ("scale", "hpa", "maxReplicas")


@workload_rule("NIM-WL-020")
def max_replicas_can_run(subject: Subject, world: World, check: Check) -> Judged:
    """`scale.hpa.maxReplicas` is at most the replicas running plus those the fleet can still take."""
    if (skip := skip_unless(subject, "NIMService", check)) is not None:
        return skip
    if at(subject.spec, "scale", "enabled") is not True:
        return judged(check, Status.SKIP, "no autoscaling (scale.enabled is not true)")
    maximum = whole(at(subject.spec, *MAX_REPLICAS))
    if maximum is None:
        return judged(check, Status.SKIP, "scale.hpa.maxReplicas is not set")
    cluster = world.cluster
    if cluster is None:
        return judged(check, Status.SKIP, LIVE_ONLY, MAX_REPLICAS)
    if cluster.fleet is None or cluster.fleet.held is None:
        why = cluster.errors.get("fleet", "not read")
        return judged(check, Status.SKIP, f"the fleet could not be read: {why}", MAX_REPLICAS)
    req, error = requirement(subject, world)
    if req is None:
        return judged(check, Status.ERROR, f"cannot derive what the model needs: {error}", MAX_REPLICAS)
    fleet = cluster.fleet
    selector = node_selector(subject.spec)
    if selector and cluster.nodes is not None:
        allowed = {n.name for n in matching_nodes(cluster.nodes, selector)}
        fleet = dataclasses.replace(fleet, nodes=[n for n in fleet.nodes if n.name in allowed])
    counted = count_fleet(fleet, req, requirement_placer(req, world.catalog))
    running = fleet.held.services[subject.ref.namespace or "", subject.ref.name] if fleet.held else 0
    reachable = running + counted.replicas
    unknown = sum(1 for n in counted.nodes if n.status == "unknown")
    evidence: dict[str, Any] = {
        "model": req.model,
        "maxReplicas": maximum,
        "running": running,
        "fitNow": counted.replicas,
        "capacity": reachable,
        "unknownNodes": unknown,
    }
    if maximum <= reachable:
        message = f"maxReplicas {maximum} can run: {running} running + {counted.replicas} more fit"
        return judged(check, Status.PASS, message, MAX_REPLICAS, evidence)
    gap = maximum - reachable
    closing = next((u for u in reversed(counted.unlock) if u.replicas >= gap), None)
    best = closing or (counted.unlock[0] if counted.unlock else None)
    if best is None:
        unlock = "No fix on a node adds replicas of this model: it needs more or larger GPUs."
    else:
        closes = "which closes the gap" if best.replicas >= gap else f"{gap - best.replicas} still short"
        unlock = (
            f"Fixing {best.check} ({best.short}) on {len(best.nodes)} node(s) ({', '.join(best.nodes[:5])}) "
            f"would add {best.replicas}, {closes}."
        )
        evidence["unlock"] = {"check": best.check, "nodes": best.nodes, "replicas": best.replicas}
    unsure = f"; {unknown} node(s) could not be judged" if unknown else ""
    message = (
        f"scale.hpa.maxReplicas {maximum} but at most {reachable} replica(s) of {req.model} can run "
        f"({running} running + {counted.replicas} more fit): {gap} short{unsure}"
    )
    return judged(
        check, Status.WARN, message, MAX_REPLICAS, evidence, max=maximum, reachable=reachable, unlock=unlock
    )
