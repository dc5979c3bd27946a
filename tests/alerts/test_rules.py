"""The alert rules: promtool accepts them (as a plain file and inside the PrometheusRule), every alert is
proven by a promtool unit test, and every alert follows the conventions and the metric contract."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nimdoctor.catalog import Catalog
from tests.alerts.rules import (
    RULES_FILE,
    RUNBOOK_BASE,
    UNIT_TESTS,
    Rule,
    alerts,
    groups,
    template_queries,
    unit_tests,
)
from tests.deploy.contract import AGENT, AUDIT, EXTENDER
from tests.deploy.manifests import INSTALL, MONITORING, REPO, render, selects, tool
from tests.deploy.promql import contract_problems, selectors

ALERTS = alerts()
NAMES = [rule["alert"] for rule in ALERTS]
CHECK_ID = re.compile(r"NIM-[A-Z]+-\d{3}")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, check=False, cwd=REPO)


def test_promtool_check_rules_accepts_the_plain_rules_file() -> None:
    result = promtool("check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def prometheus_rule() -> dict[str, object]:
    (rule,) = (d for d in render(MONITORING) if d["kind"] == "PrometheusRule")
    return rule


def test_promtool_check_rules_accepts_the_groups_of_the_rendered_prometheusrule(tmp_path: Path) -> None:
    extracted = tmp_path / "prometheusrule-groups.yaml"
    extracted.write_text(yaml.safe_dump(prometheus_rule()["spec"]))
    result = promtool("check", "rules", str(extracted))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_prometheusrule_carries_exactly_the_plain_rules_file() -> None:
    assert prometheus_rule()["spec"] == {"groups": groups()}
    check = subprocess.run(
        [sys.executable, "tools/gen_alerts.py", "--check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert check.returncode == 0, check.stdout


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", str(UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    # The suite proves something: its ExtenderErrors tests fail against rules with the threshold moved.
    moved = tmp_path / "rules" / RULES_FILE.name
    moved.parent.mkdir()
    moved.write_text(RULES_FILE.read_text().replace("> 0.05", "> 0.5"))
    suite = {
        "rule_files": [str(moved)],
        "evaluation_interval": "1m",
        "tests": [g for g in unit_tests() if g["name"].startswith("NimDoctorExtenderErrors: fires")],
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    result = promtool("test", "rules", str(tmp_path / "suite.yaml"))
    assert result.returncode == 1
    assert "NimDoctorExtenderErrors" in result.stdout + result.stderr


def assertions(alert: str) -> list[tuple[str, bool]]:
    """(test group name, whether it expects the alert firing) for every assertion about an alert."""
    return [
        (group.get("name", ""), bool(case["exp_alerts"]))
        for group in unit_tests()
        for case in group.get("alert_rule_test", [])
        if case["alertname"] == alert
    ]


@pytest.mark.parametrize("alert", NAMES)
def test_every_alert_fires_stays_silent_on_a_blip_and_on_a_healthy_fleet(alert: str) -> None:
    found = assertions(alert)
    fires = [name for name, firing in found if firing and name.startswith(f"{alert}: fires")]
    silent_before = [name for name, firing in found if not firing and name in fires]
    blips = [name for name, firing in found if not firing and name.startswith(f"{alert}: blip")]
    healthy = [name for name, firing in found if not firing and name.startswith("healthy fleet")]
    assert fires, "no test in which it fires"
    assert silent_before, "no test that it waits for its `for:` before firing"
    assert blips, "no test that a blip shorter than its `for:` stays silent"
    assert healthy, "not asserted silent on the healthy fleet"


def test_unit_tests_speak_only_of_shipped_alerts() -> None:
    named = {case["alertname"] for group in unit_tests() for case in group.get("alert_rule_test", [])}
    assert named == set(NAMES)


@pytest.mark.parametrize("rule", ALERTS, ids=NAMES)
def test_alert_follows_the_conventions(rule: Rule) -> None:
    name = rule["alert"]
    assert re.fullmatch(r"NimDoctor(?:[A-Z][a-z]*|[A-Z]+(?=[A-Z][a-z]))+", name), name
    assert rule["labels"] == {"severity": rule["labels"]["severity"]}
    assert rule["labels"]["severity"] in ("critical", "warning", "info")
    assert re.fullmatch(r"\d+[mh]", rule["for"]), "every alert waits out blips"
    annotations = rule["annotations"]
    assert set(annotations) == {"summary", "description", "runbook_url"}
    summary = annotations["summary"]
    assert "{{" not in summary
    assert summary[0].isupper()
    assert summary.endswith(".")
    assert annotations["runbook_url"] == f"{RUNBOOK_BASE}#{name.lower()}"


def named_labels(rule: Rule) -> set[str]:
    """The labels its description must name, from the series its expression reads."""
    metrics = {name for name, _ in selectors(rule["expr"])}
    wanted = set()
    if metrics & set(AGENT) or "kube_node_labels" in metrics or 'job="nimdoctor-agent"' in rule["expr"]:
        wanted.add("node")
    if metrics & {"nimdoctor_check_status", "nimdoctor_check_success", "nimdoctor_workload_check_success"}:
        wanted.add("check")
    if metrics & set(AUDIT) - {"nimdoctor_workload_check_success"} or metrics & set(EXTENDER):
        wanted.add("pod")
    if "nimdoctor_workload_check_success" in metrics:
        wanted |= {"namespace", "kind", "name"}
    return wanted


@pytest.mark.parametrize("rule", ALERTS, ids=NAMES)
def test_description_names_the_node_the_check_or_the_workload(rule: Rule) -> None:
    description = rule["annotations"]["description"]
    named = set(re.findall(r"\$labels\.(\w+)", description))
    assert named_labels(rule) <= named, f"{rule['alert']} should name {named_labels(rule) - named}"


@pytest.mark.parametrize("rule", ALERTS, ids=NAMES)
def test_alert_reads_only_series_that_are_exported(rule: Rule) -> None:
    assert not contract_problems(rule["expr"])
    for query in template_queries(rule):
        assert not contract_problems(query), query


@pytest.mark.parametrize("rule", ALERTS, ids=NAMES)
def test_alert_names_only_checks_in_the_catalog(rule: Rule, catalog: Catalog) -> None:
    for check in CHECK_ID.findall(rule["expr"]):
        assert check in catalog.checks, check


def test_check_failing_leaves_out_exactly_the_warning_checks_with_alerts_of_their_own(
    catalog: Catalog,
) -> None:
    (failing,) = (r for r in ALERTS if r["alert"] == "NimDoctorCheckFailing")
    left_out = set(CHECK_ID.findall(dict(selectors(failing["expr"]))["nimdoctor_check_status"]["check"]))
    own = {
        check
        for rule in ALERTS
        if rule is not failing
        for _, labels in selectors(rule["expr"])
        for check in CHECK_ID.findall(labels.get("check", ""))
    }
    assert left_out == {check for check in own if catalog.get(check).severity == "warning"}


def test_alerts_select_jobs_that_the_servicemonitors_scrape() -> None:
    services = {d["metadata"]["name"]: d for d in render(INSTALL) if d["kind"] == "Service"}
    monitors = [d for d in render(MONITORING) if d["kind"] == "ServiceMonitor"]
    assert not [m for m in monitors if "jobLabel" in m["spec"]], "job must stay the Service's name"
    jobs = {labels["job"] for rule in ALERTS for _, labels in selectors(rule["expr"]) if "job" in labels}
    assert jobs == {"nimdoctor-agent", "nimdoctor-extender", "nimdoctor-audit"}
    for job in jobs:
        service = services[job]
        assert [
            m
            for m in monitors
            if selects(m["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
        ]
