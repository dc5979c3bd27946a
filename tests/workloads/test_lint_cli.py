"""`nimdoctor lint`: inputs (files, directories, stdin, multi-document, List), positions, formats, errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from nimdoctor.cli import cli
from nimdoctor.workloads.manifests import MAX_BYTES
from nimdoctor.workloads.report import workload_schema

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
AUTOSCALING = FIXTURES / "k8s-nim-operator__serving__standalone__autoscaling__llm.yaml"

SWAPPED_AND_SCALED = textwrap.dedent(
    """\
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: unrelated}
    data: {replicas: "3"}
    ---
    apiVersion: apps.nvidia.com/v1alpha1
    kind: NIMService
    metadata:
      name: llm
      namespace: team-a
    spec:
      image:
        repository: nvcr.io/nim/meta/llama-3.1-70b-instruct
        tag: "1.3.3"
        pullSecrets: [ngc-api-secret]
      authSecret: ngc-secret
      storage:
        emptyDir: {}
      replicas: 2
      scale:
        enabled: true
        hpa: {minReplicas: 1, maxReplicas: 3}
      expose:
        ingress:
          enabled: true
          spec: {rules: [{host: llm.example.com}]}
        router:
          ingress: {ingressClass: nginx}
      resources:
        limits:
          nvidia.com/gpu: 2
      storage_note: ignored
      multiNode: null
    """
)


def last_key(field: str) -> str:
    """The last key of a field path: `spec.resources.limits['nvidia.com/gpu']` -> `nvidia.com/gpu`."""
    quoted = re.search(r"\['([^']*)'\]$", field)
    if quoted:
        return quoted.group(1)
    return re.sub(r"\[\d+\]$", "", field).rsplit(".", 1)[-1]


def lint(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["lint", *args], input=stdin, catch_exceptions=False)


def findings(result: Result) -> dict[str, dict[str, object]]:
    report = json.loads(result.stdout)
    return {f["id"]: f for f in report["findings"] if f["status"] in ("fail", "warn")}


def test_each_finding_points_at_the_line_of_its_offending_field(tmp_path: Path) -> None:
    path = tmp_path / "svc.yaml"
    path.write_text(SWAPPED_AND_SCALED)
    lines = SWAPPED_AND_SCALED.splitlines()
    found = findings(lint(str(path), "-o", "json"))
    expected = {
        "NIM-WL-001": "emptyDir: {}",
        "NIM-WL-005": "replicas: 2",
        "NIM-OP-003": "ingress:",  # enabled together with router.ingress: the CRD's CEL rule
        "NIM-WL-009": "authSecret: ngc-secret",
    }
    for check, text in expected.items():
        finding = found[check]
        assert lines[int(str(finding["line"])) - 1].strip() == text, check
        assert finding["file"] == str(path)
    assert found["NIM-WL-005"]["field"] == "spec.replicas"
    assert "NIM-WL-006" not in found  # NIM-OP-003 reports that ingress, once
    assert found["NIM-WL-009"]["status"] == "warn"  # conventional names, swapped


@pytest.mark.parametrize("sample", sorted(FIXTURES.glob("k8s-nim-operator__*.yaml")), ids=lambda p: p.stem)
def test_every_located_field_is_on_its_line(sample: Path) -> None:
    """For every finding of every sample, the reported line holds the field's last key (or list item)."""
    lines = sample.read_text().splitlines()
    report = json.loads(lint(str(sample), "-o", "json").stdout)
    for f in report["findings"]:
        line = lines[f["line"] - 1]
        assert line.strip().startswith((f"{last_key(f['field'])}:", "- ")), (f["id"], f["field"], line)


def test_directories_multi_document_files_and_stdin(tmp_path: Path) -> None:
    folder = tmp_path / "manifests" / "nested"
    folder.mkdir(parents=True)
    (folder / "a.yaml").write_text(AUTOSCALING.read_text())
    (folder / "notes.txt").write_text("not: [yaml")  # not a *.yaml file: not read
    stdin = (FIXTURES / "k8s-nim-operator__serving__standalone__no-precaching__llm.yaml").read_text()
    result = lint(str(tmp_path / "manifests"), "-", "-o", "json", stdin=stdin)
    report = json.loads(result.stdout)
    assert result.exit_code == 1
    assert report["scope"] == [str(folder / "a.yaml"), "<stdin>"]
    assert report["objects"] == 3
    files = {
        (f["file"], f["id"]) for f in report["findings"] if f["status"] != "pass" and f["status"] != "skip"
    }
    assert (str(folder / "a.yaml"), "NIM-WL-005") in files
    assert ("<stdin>", "NIM-WL-001") in files


def test_kubectl_list_output_is_read_item_by_item(tmp_path: Path) -> None:
    docs = list(yaml.safe_load_all(AUTOSCALING.read_text()))
    listing = tmp_path / "list.yaml"
    listing.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": docs}, sort_keys=False))
    found = findings(lint(str(listing), "-o", "json"))
    assert found["NIM-WL-005"]["field"] == "items[1].spec.replicas"
    line = listing.read_text().splitlines()[int(str(found["NIM-WL-005"]["line"])) - 1]
    assert line.strip() == "replicas: 1"


def test_non_nim_documents_are_ignored_and_nothing_found_exits_zero(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n- just a list\n---\n42\n")
    result = lint(str(path), "-o", "json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0
    assert report["objects"] == 0
    assert report["findings"] == []
    assert report["notes"] == ["no NIMService, NIMCache or NIMPipeline documents found"]


def test_invalid_yaml_exits_2_with_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: apps.nvidia.com/v1alpha1\nkind: NIMService\nspec:\n  image: [a, b\n")
    result = lint(str(AUTOSCALING), str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{path}:5:1: invalid YAML:" in result.stderr


def test_a_nim_document_of_the_wrong_shape_is_an_input_error_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "shape.yaml"
    path.write_text(
        "apiVersion: apps.nvidia.com/v1alpha1\nkind: NIMCache\nmetadata:\n  name: c\nspec: [1, 2]\n"
    )
    result = lint(str(path))
    assert result.exit_code == 2
    assert f"{path}:5:1: spec: expected a mapping" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/file.yaml"], "no such file or directory"),
        (["--operator-version", "three", str(AUTOSCALING)], "--operator-version"),
        (["--only", "NIM-RT-001", str(AUTOSCALING)], "unknown workload check id(s): NIM-RT-001"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = lint(*args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_only_restricts_the_checks() -> None:
    report = json.loads(lint(str(AUTOSCALING), "--only", "nim-wl-005", "-o", "json").stdout)
    assert {f["id"] for f in report["findings"]} == {"NIM-WL-005"}


def test_json_matches_the_generated_schema_and_yaml_says_the_same() -> None:
    import jsonschema

    as_json = json.loads(lint(str(AUTOSCALING), "-o", "json").stdout)
    jsonschema.validate(as_json, workload_schema())
    assert (as_json["apiVersion"], as_json["kind"], as_json["source"]) == (
        "nimdoctor.io/v1alpha1",
        "WorkloadReport",
        "lint",
    )
    as_yaml = yaml.safe_load(lint(str(AUTOSCALING), "-o", "yaml").stdout)
    assert as_yaml["findings"] == as_json["findings"]


def test_table_lists_problems_with_lines_and_fixes_and_wide_lists_every_check() -> None:
    table = lint(str(AUTOSCALING)).stdout
    assert "NIM-WL-005  FAIL    45" in table
    assert "Delete spec.replicas" in table
    assert "NIM-WL-002" not in table  # a skip: only in wide
    wide = lint(str(AUTOSCALING), "-o", "wide").stdout
    assert "NIM-WL-002" in wide
    assert "SKIP" in wide


def test_terminal_escapes_in_manifests_are_shown_not_sent(tmp_path: Path) -> None:
    path = tmp_path / "esc.yaml"
    text = AUTOSCALING.read_text().replace(
        "name: meta-llama-3-2-1b-instruct\n  namespace", "name: x\x1b[2Jy\n  namespace", 1
    )
    path.write_text(text)
    table = lint(str(path)).stdout
    assert "\x1b" not in table


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "nimdoctor", "lint", str(fifo)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "not a regular file but a FIFO" in done.stderr


def test_an_oversized_manifest_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: costs no disk
    result = CliRunner().invoke(cli, ["lint", str(big)])
    assert result.exit_code == 2
    assert "larger than 16 MiB" in result.output
