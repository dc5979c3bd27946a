"""One problem, one finding: where a NIM-WL check and a NIM-OP check judge the same field for the same reason,
one owns it and the other stands down (skip, or a pass that names the owner)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from nimdoctor.cli import cli
from tests.workloads.schema.objects import manifest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VENDORED = {"3.1.4": "3.1.3", "3.0.2": "3.0.2"}  # the CRDs an operator version is judged with
HPA = {"enabled": True, "hpa": {"minReplicas": 1, "maxReplicas": 2}}
INGRESS_BESIDE_ROUTER = {
    "expose": {
        "ingress": {"enabled": True, "spec": {"rules": [{"host": "llm.example.com"}]}},
        "router": {"hostDomainName": "example.com", "ingress": {"ingressClass": "nginx"}},
    }
}


def lint(path: Path, *args: str) -> list[dict[str, Any]]:
    """Every finding of `nimdoctor lint` (all checks) on `path`."""
    result = CliRunner().invoke(cli, ["lint", str(path), "-o", "json", *args], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    findings: list[dict[str, Any]] = json.loads(result.stdout)["findings"]
    return findings


def lint_spec(tmp_path: Path, spec_patch: dict[str, Any], *args: str) -> list[dict[str, Any]]:
    path = tmp_path / "svc.yaml"
    path.write_text(yaml.safe_dump(manifest("NIMService", spec_patch), sort_keys=False))
    return lint(path, *args)


def reported(findings: list[dict[str, Any]], field: str) -> set[tuple[str, str]]:
    """(check, status) of the findings that report a problem (fail or warn) at `field`."""
    return {
        (f["id"], f["status"]) for f in findings if f["field"] == field and f["status"] in ("fail", "warn")
    }


def by_id(findings: list[dict[str, Any]], check: str) -> dict[str, Any]:
    return next(f for f in findings if f["id"] == check)


def doubles(findings: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """Fields (per object) that both a NIM-OP and a NIM-WL check report."""
    seen: dict[tuple[str, str], set[str]] = {}
    for f in findings:
        if f["status"] in ("fail", "warn"):
            seen.setdefault((f["object"]["name"], f["field"]), set()).add(f["id"])
    return {
        key: ids
        for key, ids in seen.items()
        if any(i.startswith("NIM-OP-") for i in ids) and any(i.startswith("NIM-WL-") for i in ids)
    }


@pytest.mark.parametrize("version", ["3.1.4", "3.0.2"])
def test_replicas_with_autoscaling_is_nim_wl_005s_alone(tmp_path: Path, version: str) -> None:
    findings = lint_spec(tmp_path, {"replicas": 2, "scale": HPA}, "--operator-version", version)
    assert reported(findings, "spec.replicas") == {("NIM-WL-005", "fail")}
    owner = by_id(findings, "NIM-WL-005")
    assert "spec.replicas cannot be set when spec.scale.enabled is true" in owner["message"]
    assert owner["fix"].startswith("Delete spec.replicas;")
    assert owner["evidence"]["source"].startswith(f"the NIM Operator {VENDORED[version]} CRDs")
    cel = by_id(findings, "NIM-OP-003")
    assert cel["status"] == "pass"
    assert "NIM-WL-005 reports the failing rule 'spec.replicas cannot be set" in cel["message"]


def test_before_302_the_crds_have_no_such_rule_and_nim_wl_005_warns(tmp_path: Path) -> None:
    findings = lint_spec(tmp_path, {"replicas": 2, "scale": HPA}, "--operator-version", "3.0.1")
    assert reported(findings, "spec.replicas") == {("NIM-WL-005", "warn")}
    assert "operator 3.0.2 and later reject it" in by_id(findings, "NIM-WL-005")["message"]


def test_ingress_beside_the_router_ingress_is_nim_op_003s_alone(tmp_path: Path) -> None:
    findings = lint_spec(tmp_path, INGRESS_BESIDE_ROUTER)
    assert reported(findings, "spec.expose.ingress") == {("NIM-OP-003", "fail")}
    stood_down = by_id(findings, "NIM-WL-006")
    assert (stood_down["status"], stood_down["message"]) == (
        "skip",
        "NIM-OP-003 reports spec.expose.ingress as the operator does",
    )


def test_a_deprecated_ingress_alone_is_still_nim_wl_006s(tmp_path: Path) -> None:
    ingress = {"expose": {"ingress": INGRESS_BESIDE_ROUTER["expose"]["ingress"]}}
    assert reported(lint_spec(tmp_path, ingress), "spec.expose.ingress") == {("NIM-WL-006", "warn")}


@pytest.mark.parametrize(
    ("version", "patch", "owner"),
    [
        ("3.1.4", {"authSecret": ""}, ("NIM-OP-005", "warn")),  # the webhook warns from 3.1.3
        ("3.1.2", {"authSecret": ""}, ("NIM-OP-004", "fail")),  # and refused it before
        ("3.1.2", {"authSecret": None}, ("NIM-OP-001", "fail")),  # required by the schema
    ],
)
def test_a_missing_auth_secret_is_the_operator_checks_alone(
    tmp_path: Path, version: str, patch: dict[str, Any], owner: tuple[str, str]
) -> None:
    findings = lint_spec(tmp_path, patch, "--operator-version", version)
    assert reported(findings, "spec.authSecret") | reported(findings, "spec") == {owner}
    assert by_id(findings, "NIM-WL-007")["status"] == "skip"


def test_an_empty_auth_secret_no_operator_check_reports_is_nim_wl_007s(tmp_path: Path) -> None:
    # 2.0.2: no webhook, and the schema takes an empty string.
    findings = lint_spec(tmp_path, {"authSecret": ""}, "--operator-version", "2.0.2")
    assert reported(findings, "spec") == {("NIM-WL-007", "warn")}


@pytest.mark.parametrize(("version", "owner"), [("3.1.4", "NIM-OP-004"), ("2.0.2", "NIM-WL-001")])
def test_a_service_without_storage_is_reported_once(tmp_path: Path, version: str, owner: str) -> None:
    findings = lint_spec(tmp_path, {"storage": None}, "--operator-version", version)
    assert {check for check, _ in reported(findings, "spec.storage")} == {owner}


@pytest.mark.parametrize(
    "sample",
    sorted(
        p.name
        for p in [
            *FIXTURES.glob("k8s-nim-operator__*.yaml"),
            *FIXTURES.glob("k8s-nim-operator-breaks/*.y*ml"),
        ]
    ),
)
@pytest.mark.parametrize("version", ["3.1.4", "3.0.2"])
def test_no_operator_sample_gets_two_findings_on_one_field(sample: str, version: str) -> None:
    path = next(p for p in FIXTURES.rglob(sample))
    assert doubles(lint(path, "--operator-version", version)) == {}


@pytest.mark.parametrize(
    ("patch", "field", "owner"),
    [
        ({"storage": {"nimCache": None, "emptyDir": {}}}, "spec.storage.emptyDir", "NIM-OP-002"),
        (
            {"resources": None, "draResources": [{"resourceClaimTemplateName": "gpus"}]},
            "spec.draResources",
            "NIM-OP-002",
        ),
    ],
)
def test_a_field_the_old_crds_do_not_know_is_reported_as_unknown_alone(
    tmp_path: Path, patch: dict[str, Any], field: str, owner: str
) -> None:
    findings = lint_spec(tmp_path, patch, "--operator-version", "2.0.2")
    assert reported(findings, field) == {(owner, "fail")}
