"""Hold PromQL (alert rules, dashboard panels) to the metric contract: every series it selects, and every
label it matches on, must be one that a nimdoctor process (or Prometheus itself) exports."""

from __future__ import annotations

import promql_parser

from tests.deploy.contract import METRICS, TARGET_LABELS


def selectors(expr: str) -> list[tuple[str, dict[str, str]]]:
    """(metric name, {label: value}) for every series selector in an expression."""
    found: list[tuple[str, dict[str, str]]] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            labels = {m.name: m.value for m in node.matchers.matchers if m.name != "__name__"}
            found.append((node.name or "", labels))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def contract_problems(expr: str) -> list[str]:
    """Series or label matchers an expression uses that nothing exports."""
    problems = []
    for name, labels in selectors(expr):
        if name not in METRICS:
            problems.append(f"unknown metric {name!r}")
        elif extra := set(labels) - METRICS[name] - TARGET_LABELS:
            problems.append(f"{name} has no label {sorted(extra)}")
    return problems
