"""The shipped alert rules and their promtool unit tests, read once."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.manifests import MONITORING, REPO

RULES_FILE = MONITORING / "rules" / "nimdoctor.rules.yaml"
UNIT_TESTS = Path(__file__).resolve().parent / "nimdoctor.test.yaml"
RUNBOOK = REPO / "docs" / "alerts.md"
RUNBOOK_BASE = "https://github.com/nimdoctor/nimdoctor/blob/main/docs/alerts.md"
# A query a description runs through the template's `query` function: printf "<query>" args | query
TEMPLATE_QUERY = re.compile(r'printf\s+"((?:[^"\\]|\\.)*)"[^|]*\|\s*query')

Rule = dict[str, Any]


def groups() -> list[dict[str, Any]]:
    return list(yaml.safe_load(RULES_FILE.read_text())["groups"])


def alerts() -> list[Rule]:
    return [rule for group in groups() for rule in group["rules"] if "alert" in rule]


@functools.cache
def _unit_tests() -> tuple[dict[str, Any], ...]:
    return tuple(yaml.safe_load(UNIT_TESTS.read_text())["tests"])


def unit_tests() -> list[dict[str, Any]]:
    """The promtool test groups (shared: do not modify)."""
    return list(_unit_tests())


def template_queries(rule: Rule) -> list[str]:
    """The PromQL queries an alert's annotations run, with printf's %q arguments filled in."""
    found = []
    for text in rule.get("annotations", {}).values():
        for raw in TEMPLATE_QUERY.findall(text):
            found.append(raw.encode().decode("unicode_escape").replace("%q", '"x"'))
    return found
