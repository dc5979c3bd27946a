"""The workload rules (`NIM-WL-*`), one module per concern; importing the package registers them all.

`base` holds the registry and what every rule shares; `shape` reads a service's shape (pods, cache, PVC,
GPUs); `storage`, `secrets`, `scaling`, `exposure`, `gpus`, `nodes`, `inputs` and `capacity` hold the rules;
`names` validates, quotes and resolves the names rules print; `admission` holds the NIM Operator's own
admission rules (`NIM-OP-*`: CRD schema, CEL, its webhook's rules ported in `webhook`). The rules import the
model (`workloads.model`, `workloads.readers`) and never what feeds them (manifests, collect, evaluate).
"""

from nimdoctor.workloads.rules import (
    admission,
    capacity,
    exposure,
    gpus,
    inputs,
    nodes,
    scaling,
    secrets,
    storage,
)
from nimdoctor.workloads.rules.base import WORKLOAD_RULES, WorkloadRule, workload_rule

__all__ = [
    "WORKLOAD_RULES",
    "WorkloadRule",
    "admission",
    "capacity",
    "exposure",
    "gpus",
    "inputs",
    "nodes",
    "scaling",
    "secrets",
    "storage",
    "workload_rule",
]
