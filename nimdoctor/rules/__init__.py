"""Rules judge facts; importing this package registers every node rule."""

from nimdoctor.rules import gpu, runtime, workload
from nimdoctor.rules.registry import RULES, Registered, finding, node_rule

__all__ = ["RULES", "Registered", "finding", "gpu", "node_rule", "runtime", "workload"]
