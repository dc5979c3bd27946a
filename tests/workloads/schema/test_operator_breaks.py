"""Two of the NIM Operator's own published manifests that its API server would refuse or silently trim:
lint names the field, the line and the fix, and nothing else of theirs
(tests/fixtures/k8s-nim-operator-breaks, copied with their source)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from nimdoctor.cli import cli
from tests.workloads.schema.objects import OPERATOR_CHECKS

BREAKS = Path(__file__).resolve().parents[2] / "fixtures" / "k8s-nim-operator-breaks"


def operator_findings(name: str) -> list[tuple[str, str, int, str]]:
    result = CliRunner().invoke(cli, ["lint", str(BREAKS / name), "--only", OPERATOR_CHECKS, "-o", "json"])
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    return [(f["id"], f["field"], f["line"], f["fix"]) for f in findings if f["status"] != "pass"]


def test_the_router_sample_sets_spec_router_which_the_crd_does_not_have() -> None:
    [(check, field, line, fix)] = operator_findings("routers-ingress-llm.yaml")
    assert (check, field, line) == ("NIM-OP-002", "spec.router", 52)
    assert fix == "spec.router: move or rename spec.router to spec.expose.router"


def test_the_e2e_service_has_a_tag_that_yaml_reads_as_a_number() -> None:
    [(check, field, line, fix)] = operator_findings("e2e-nimservice.yaml")
    assert (check, field, line) == ("NIM-OP-001", "spec.image.tag", 8)
    assert 'tag: "1.8"' in fix
