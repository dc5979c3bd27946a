"""The workload rules (`NIM-WL-*`), one module per concern; importing the package registers them all.

`base` holds the registry and what every rule shares; `shape` reads a service's shape (pods, cache, PVC,
GPUs); `storage`, `secrets`, `scaling`, `exposure`, `gpus`, `nodes` and `inputs` hold the rules; `names`
validates, quotes and resolves the names rules print. The rules import the
model (`workloads.model`, `workloads.readers`) and never what feeds them (manifests, collect, evaluate).
"""

from nimdoctor.workloads.rules import exposure, gpus, inputs, nodes, scaling, secrets, storage
from nimdoctor.workloads.rules.base import WORKLOAD_RULES, WorkloadRule, workload_rule

__all__ = [
    "WORKLOAD_RULES",
    "WorkloadRule",
    "exposure",
    "gpus",
    "inputs",
    "nodes",
    "scaling",
    "secrets",
    "storage",
    "workload_rule",
]
