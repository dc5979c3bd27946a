"""The `Capacity` document `nimdoctor capacity -o json|yaml` prints (its schema is generated from it)."""

from __future__ import annotations

from typing import Literal

import msgspec

from nimdoctor import API_VERSION
from nimdoctor.report import Base, Requirement

NodeStatus = Literal["fits", "full", "blocked", "unknown"]
CliqueCheck = Literal["exact", "assumed", "pcie", "not-needed"]
Source = Literal["reports", "cluster"]


class CapacityNode(Base, frozen=True, kw_only=True):
    """One node's answer. `status`: `fits` (replicas > 0), `full` (the model fits but its free devices hold
    no replica), `blocked` (the model does not fit: `check` and `reason` say why), `unknown` (could not be
    judged: `reason` says why).

    `replicas` counts pods: whole replicas of a single-node model, or pods (pipeline stages) of a multi-node
    model's groups. `gpus` is the devices of `resource` the node has (the report's count, capped by the
    Node's allocatable when read), `freeGpus` what its non-terminated pods leave. `cliqueCheck` says how the
    free GPUs were matched to NVLink cliques: `exact` (the report says which GPUs are taken, or none are),
    `assumed` (it does not: any free GPUs are assumed to form a clique), `pcie` (no clique of TP GPUs on
    this node: TP runs over PCIe, as placement cautions), `not-needed` (TP 1 or MIG). `fixes` lists the
    failing checks a fix on the node removes; `failingChecks` the node checks its report fails.
    """

    node: str
    status: NodeStatus
    replicas: int = 0
    tensor_parallel: int | None = None
    pipeline_parallel: int | None = None
    precision: str | None = None
    gpus_per_replica: int | None = None  # devices per pod
    resource: str | None = None
    gpus: int | None = None
    free_gpus: int | None = None
    clique_check: CliqueCheck | None = None
    check: str | None = None
    reason: str | None = None  # when replicas is 0
    fixes: list[str] = msgspec.field(default_factory=list)
    failing_checks: list[str] = msgspec.field(default_factory=list)


class Unlock(Base, frozen=True, kw_only=True):
    """What fixing one failing check on its nodes would add: `replicas` more fleet-wide, counted as if that
    one failure were fixed on each of `nodes` (`assumes` says what the node is then taken to be)."""

    check: str
    short: str
    assumes: str
    nodes: list[str]
    replicas: int


class Capacity(Base, frozen=True, kw_only=True):
    """How many replicas of a model the fleet takes now, where, and what each fix would add.

    `replicas` counts whole replicas: for a multi-node model (`podsPerReplica` > 1) groups of that many pods
    on as many different nodes. `requirement` is the model's requirement as `run --model` reports it (each
    node's TP and precision are in `nodes`). `unjudged` counts nodes whose answer is unknown.
    """

    api_version: str = API_VERSION
    kind: Literal["Capacity"] = "Capacity"
    model: str  # as asked
    resolved_model: str
    requirement: Requirement
    source: Source
    pods_counted: bool
    replicas: int
    pods_per_replica: int
    unjudged: int
    nodes: list[CapacityNode]
    unlock: list[Unlock]
    notes: list[str] = msgspec.field(default_factory=list)
