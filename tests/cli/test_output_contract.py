"""One output contract: every command's JSON and YAML is one document of its `kind`, valid against the JSON
Schema generated from its type, and the README's format table names exactly the kinds that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from nimdoctor import API_VERSION
from nimdoctor.cli import cli
from nimdoctor.documents import schemas
from tests.hosts import Proc, host_tree, limits_text

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
TOPO = str(FIXTURES / "topo-m_hgx-h100-sxm-8gpu_nv18_1nic.txt")
MANIFEST = str(FIXTURES / "k8s-nim-operator__serving__standalone__autoscaling__llm.yaml")
FLEET = [
    "--reports",
    str(FIXTURES / "capacity-fleet_reports.json"),
    "--pods",
    str(FIXTURES / "capacity-fleet_pods.json"),
    "--trust-simulated",  # the fixture's reports are simulated machines'
]
# Every command that prints a result, with the kind of document it prints.
COMMANDS: dict[str, tuple[list[str], str]] = {
    "run": (
        ["run", "--simulate", "dgx-h100-containerd2", "--model", "meta/llama-3.1-70b-instruct"],
        "Report",
    ),
    "plan": (["plan", "--model", "meta/llama-3.1-70b-instruct"], "Plan"),
    "capacity": (["capacity", "--model", "meta/llama-3.1-70b-instruct", *FLEET], "Capacity"),
    "topo": (["topo", "--simulate", "h100-pcie-nvlink-pairs"], "Topology"),
    "topo without NVML": (["topo", "--simulate", "no-driver"], "Topology"),
    "checks": (["checks"], "CheckList"),
    "explain": (["explain", "NIM-FIT-005"], "Check"),
    "machine list": (["machine", "list"], "MachineList"),
    "machine show": (["machine", "show", "a100-mig"], "Machine"),
    "machine import": (["machine", "import", "--topo", TOPO], "Machine"),
    "lint": (["lint", MANIFEST], "WorkloadReport"),
}
VOLATILE = ("generatedAt", "durationSeconds")  # differ from one run to the next


def output(args: list[str], fmt: str) -> str:
    result = CliRunner().invoke(cli, [*args, "-o", fmt], catch_exceptions=False)
    assert result.exit_code in (0, 1, 3), result.output
    return result.stdout


def steady(document: Any) -> Any:
    if isinstance(document, dict):
        return {k: steady(v) for k, v in document.items() if k not in VOLATILE}
    if isinstance(document, list):
        return [steady(v) for v in document]
    return document


@pytest.mark.parametrize("name", COMMANDS)
def test_json_is_one_document_of_its_kind_valid_against_its_generated_schema(name: str) -> None:
    args, kind = COMMANDS[name]
    text = output(args, "json")
    document = json.loads(text)
    assert text.endswith("}\n")
    assert (document["apiVersion"], document["kind"]) == (API_VERSION, kind)
    jsonschema.validate(document, schemas()[kind])


@pytest.mark.parametrize("name", COMMANDS)
def test_yaml_is_the_same_document(name: str) -> None:
    args, _ = COMMANDS[name]
    text = output(args, "yaml")
    assert text.endswith("\n")
    assert steady(yaml.safe_load(text)) == steady(json.loads(output(args, "json")))


def test_a_document_of_one_kind_fails_the_schema_of_another() -> None:
    plan = json.loads(output(COMMANDS["plan"][0], "json"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(plan, schemas()["Report"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**plan, "kind": "Report"}, schemas()["Plan"])


def test_a_report_read_from_a_real_host_tree_validates_too(tmp_path: Path) -> None:
    host_tree(tmp_path).add(Proc(pid=7, limits=limits_text(1024, 4096)))
    args = ["run", "--host-root", str(tmp_path), "--only", "NIM-RT-001,NIM-RT-003"]
    jsonschema.validate(json.loads(output(args, "json")), schemas()["Report"])


def test_yaml_writes_multi_line_strings_as_block_scalars() -> None:
    text = output(["explain", "NIM-RT-001"], "yaml")
    document = yaml.safe_load(text)
    assert "\n" in document["fix"]
    assert re.search(r"^fix: \|", text, re.MULTILINE)
    assert re.search(r"^why: [|>]", text, re.MULTILINE)
    assert "\\n" not in text.split("fixTemplate:")[0].split("fix:")[1].splitlines()[0]  # not a quoted line


def test_every_table_format_prints_for_every_command() -> None:
    for args, _ in COMMANDS.values():
        for fmt in ("table", "wide"):
            assert output(args, fmt).strip(), (args, fmt)


def test_the_readme_format_table_names_exactly_the_kinds_that_exist() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("<!-- formats:begin -->")[1].split("<!-- formats:end -->")[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    kinds = {kind for row in rows for kind in re.findall(r"`([A-Z][A-Za-z]+)`", row.rsplit("|", 2)[-2])}
    named = [phrase for row in rows for phrase in re.findall(r"`([^`]+)`", row.split("|")[1])]
    assert kinds == set(schemas())
    for command in (
        "run",
        "lint",
        "plan",
        "capacity",
        "topo",
        "checks",
        "explain",
        "machine list",
        "machine show",
    ):
        assert any(phrase.startswith(command) for phrase in named), command
