"""Rules judge facts; importing this package registers every node rule (workload rules: `workloads.rules`)."""

from nimdoctor.rules import gpu, runtime
from nimdoctor.rules.registry import RULES, Registered, finding, node_rule

__all__ = ["RULES", "Registered", "finding", "gpu", "node_rule", "runtime"]
