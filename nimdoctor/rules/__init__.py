"""Rules judge facts; importing this package registers every node rule."""

from nimdoctor.rules import runtime
from nimdoctor.rules.registry import RULES, Registered, finding, node_rule

__all__ = ["RULES", "Registered", "finding", "node_rule", "runtime"]
