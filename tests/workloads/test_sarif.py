"""`nimdoctor lint -o sarif` is SARIF 2.1.0: it validates against the OASIS schema, located at the field."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from click.testing import CliRunner

from nimdoctor.cli import cli

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SCHEMA = json.loads((FIXTURES / "sarif-schema-2.1.0.json").read_text())


def sarif(*paths: Path) -> dict[str, object]:
    runner = CliRunner()
    result = runner.invoke(cli, ["lint", "-o", "sarif", *map(str, paths)], catch_exceptions=False)
    assert result.exit_code in (0, 1)
    data: dict[str, object] = json.loads(result.stdout)
    return data


def validate(log: object) -> None:
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_sarif_of_every_sample_validates_against_the_official_schema() -> None:
    log = sarif(*sorted(FIXTURES.glob("k8s-nim-operator__*.yaml")))
    validate(log)
    run = log["runs"][0]  # type: ignore[index]
    rules = run["tool"]["driver"]["rules"]
    operator = [f"NIM-OP-{n:03d}" for n in range(1, 6)]
    assert [r["id"] for r in rules] == [*operator, *(f"NIM-WL-{n:03d}" for n in range(1, 21))]
    # The samples are alternatives: linted together, their objects of one name clash (NIM-WL-019).
    results = {r["ruleId"] for r in run["results"]}
    workload = {"NIM-WL-001", "NIM-WL-003", "NIM-WL-004", "NIM-WL-005", "NIM-WL-015", "NIM-WL-019"}
    assert results == workload  # replicas with scale.enabled: NIM-WL-005 alone, not NIM-OP-003 too


def test_results_carry_relative_uri_line_column_and_level() -> None:
    sample = FIXTURES / "k8s-nim-operator__serving__standalone__autoscaling__llm.yaml"
    log = sarif(sample.relative_to(Path.cwd()) if sample.is_relative_to(Path.cwd()) else sample)
    validate(log)
    results = {r["ruleId"]: r for r in log["runs"][0]["results"]}  # type: ignore[index]
    replicas = results["NIM-WL-005"]
    assert replicas["level"] == "error"
    region = replicas["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (45, 3)
    uri = replicas["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri.endswith("tests/fixtures/k8s-nim-operator__serving__standalone__autoscaling__llm.yaml")
    assert replicas["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == (
        "NIMService nim-service/meta-llama-3-2-1b-instruct"
    )
    assert "Delete spec.replicas" in replicas["properties"]["fix"]


def test_an_invalid_log_is_caught_by_the_schema() -> None:
    """The validation is not vacuous: a result with a bad level fails it."""
    sample = FIXTURES / "k8s-nim-operator__serving__standalone__autoscaling__llm.yaml"
    log = sarif(sample)
    log["runs"][0]["results"][0]["level"] = "fatal"  # type: ignore[index]
    validator = jsonschema.Draft4Validator(SCHEMA)
    assert any("fatal" in e.message for e in validator.iter_errors(log))
