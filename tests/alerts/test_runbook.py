"""docs/alerts.md has one section per alert, in the rules' order, stating the rule's severity and wait, and
linking the check runbook (generated from the catalog) for every check the alert reads."""

from __future__ import annotations

import re

import pytest

from nimdoctor.catalog import Catalog
from tests.alerts.rules import RUNBOOK, Rule, alerts
from tests.deploy.promql import selectors

ALERTS = alerts()
NAMES = [rule["alert"] for rule in ALERTS]
TEXT = RUNBOOK.read_text()
CHECK_ID = re.compile(r"NIM-[A-Z]+-\d{3}")


def sections() -> dict[str, str]:
    """Second-level heading -> its text, in order."""
    parts = re.split(r"^## (.+)$", TEXT, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_one_section_per_alert_in_the_rules_order() -> None:
    # GitHub's anchor for the heading `## NimDoctorX` is the alert name in lower case: the runbook_url.
    assert list(sections()) == NAMES


@pytest.mark.parametrize("rule", ALERTS, ids=NAMES)
def test_section_states_the_rules_severity_and_wait(rule: Rule) -> None:
    section = sections()[rule["alert"]]
    assert f"**Severity:** {rule['labels']['severity']} · **Fires after:** {rule['for']}" in section


@pytest.mark.parametrize("rule", ALERTS, ids=NAMES)
def test_section_links_the_runbook_of_every_check_the_alert_reads(rule: Rule) -> None:
    read = {c for _, labels in selectors(rule["expr"]) for c in CHECK_ID.findall(labels.get("check", ""))}
    if rule["alert"] == "NimDoctorCheckFailing":
        read = set()  # it reads every warning check except the ones it lists
    linked = set(re.findall(r"\(runbook\.md#(nim-[a-z]+-\d{3})\)", sections()[rule["alert"]]))
    assert {c.lower() for c in read} <= linked


def test_every_check_link_lands_on_a_check_of_the_catalog(catalog: Catalog) -> None:
    linked = re.findall(r"\[(NIM-[A-Z]+-\d{3})\]\(runbook\.md#(nim-[a-z]+-\d{3})\)", TEXT)
    assert linked
    for check, anchor in linked:
        assert check.lower() == anchor
        assert catalog.get(check).runbook == f"docs/runbook.md#{anchor}"


def test_check_failing_lists_every_warning_check_it_covers(catalog: Catalog) -> None:
    (failing,) = (r for r in ALERTS if r["alert"] == "NimDoctorCheckFailing")
    excluded = set(CHECK_ID.findall(dict(selectors(failing["expr"]))["nimdoctor_check_status"]["check"]))
    covered = {
        c.id for c in catalog.checks.values() if c.severity == "warning" and c.area in ("gpu", "runtime")
    }
    mentioned = set(CHECK_ID.findall(sections()["NimDoctorCheckFailing"]))
    assert covered - excluded <= mentioned
