"""The command line: output formats, exit codes, --only, environment variables, errors."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner, Result

from nimdoctor import __version__
from nimdoctor.cli import cli
from nimdoctor.report import report_schema
from tests.hosts import Proc, host_tree, limits_text

RT = "NIM-RT-001,NIM-RT-002,NIM-RT-003"


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def low_host(tmp_path: Path) -> Path:
    """A host whose containerd runs at containerd 2.x defaults, with no LimitNOFILE configured."""
    root = tmp_path / "host"
    host_tree(root).add(Proc(pid=1187, limits=limits_text(1024, 524288))).file(
        "/lib/systemd/system/containerd.service", "[Service]\nExecStart=/usr/bin/containerd\n"
    )
    return root


@pytest.fixture
def good_host(tmp_path: Path) -> Path:
    root = tmp_path / "good"
    host_tree(root).add(Proc(pid=900, limits=limits_text(1048576, 1048576))).file(
        "/etc/systemd/system/containerd.service", "[Service]\nLimitNOFILE=1048576\n"
    )
    return root


def test_json_output_validates_against_the_generated_schema(low_host: Path) -> None:
    result = invoke("run", "--host-root", str(low_host), "--only", RT, "-o", "json", "--node-name", "n1")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    jsonschema.validate(report, report_schema())
    assert (report["apiVersion"], report["kind"], report["node"]) == (
        "nimdoctor.io/v1alpha1",
        "Report",
        "n1",
    )
    assert report["capabilities"] == {"ready": True, "nofileSoft": 1024, "nofileUnlimited": False}
    assert [f["id"] for f in report["findings"]] == RT.split(",")
    assert set(report["findings"][0]) == {
        "id",
        "status",
        "severity",
        "title",
        "message",
        "fix",
        "evidence",
    }


def test_yaml_output_is_the_same_document(low_host: Path) -> None:
    args = ("run", "--host-root", str(low_host), "--only", RT, "--node-name", "n1")
    as_json = json.loads(invoke(*args, "-o", "json").stdout)
    as_yaml = yaml.safe_load(invoke(*args, "-o", "yaml").stdout)
    as_json.pop("generatedAt")
    as_yaml.pop("generatedAt")
    assert as_yaml == as_json


def test_table_is_80_columns_with_upper_case_headers_and_the_fix(low_host: Path) -> None:
    result = invoke("run", "--host-root", str(low_host), "--only", RT)
    lines = result.stdout.splitlines()
    table = lines[2 : lines.index("", 2)]
    unit = f"{low_host}/lib/systemd/system/containerd.service"
    assert lines[2].split() == ["CHECK", "STATUS", "MESSAGE"]
    # Only a line that holds the unit file's path (longer than the message column) may pass 80 columns.
    assert all(len(line) <= 80 or unit in line for line in table)
    assert any(unit in line for line in table)
    assert "\x1b[" not in result.stdout  # no colour when not a terminal
    assert "NIM-RT-001 FAIL" in result.stdout
    assert "printf '[Service]\\nLimitNOFILE=65536\\n'" in result.stdout


def test_wide_adds_severity_and_title(low_host: Path) -> None:
    result = invoke("run", "--host-root", str(low_host), "--only", RT, "-o", "wide")
    assert result.stdout.splitlines()[2].split() == [
        "CHECK",
        "STATUS",
        "SEVERITY",
        "TITLE",
        "MESSAGE",
    ]


def test_pass_exits_0(good_host: Path) -> None:
    result = invoke("run", "--host-root", str(good_host), "--only", RT, "-o", "json")
    assert result.exit_code == 0
    statuses = [f["status"] for f in json.loads(result.stdout)["findings"]]
    assert statuses == ["pass", "pass", "pass"]


def test_unevaluable_check_exits_3(tmp_path: Path) -> None:
    host_tree(tmp_path).add(Proc(pid=5, limits="garbage"))
    result = invoke("run", "--host-root", str(tmp_path), "--only", RT, "-o", "json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["findings"][0]["status"] == "error"


def test_only_selects_checks(low_host: Path) -> None:
    result = invoke("run", "--host-root", str(low_host), "--only", "nim-rt-003", "-o", "json")
    assert result.exit_code == 0
    assert [f["id"] for f in json.loads(result.stdout)["findings"]] == ["NIM-RT-003"]


def test_unknown_only_id_is_a_usage_error(low_host: Path) -> None:
    result = invoke("run", "--host-root", str(low_host), "--only", "NIM-XX-001")
    assert result.exit_code == 2
    assert "NIM-XX-001" in result.stderr
    assert result.stdout == ""


def test_bad_flag_and_bad_format_are_usage_errors() -> None:
    assert invoke("run", "--frobnicate").exit_code == 2
    assert invoke("run", "-o", "xml").exit_code == 2


def test_missing_host_root_is_an_input_error(tmp_path: Path) -> None:
    result = invoke("run", "--host-root", str(tmp_path / "absent"))
    assert result.exit_code == 2
    assert "not a directory" in result.stderr


def test_broken_catalog_overlay_refuses_to_start(tmp_path: Path, low_host: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.yaml").write_text("apiVersion: nimdoctor.io/v1alpha1\nkind: Nope\n")
    for args in (("run", "--host-root", str(low_host)), ("checks",), ("explain", "NIM-RT-001")):
        result = invoke(*args, "--checks-dir", str(tmp_path / "bad"))
        assert result.exit_code == 2
        assert "broken check catalog" in result.stderr
        assert "unknown kind 'Nope'" in result.stderr


def test_options_come_from_the_environment(low_host: Path, tmp_path: Path) -> None:
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "x.yaml").write_text(
        "apiVersion: nimdoctor.io/v1alpha1\nkind: CheckCatalog\nchecks:\n"
        "  - id: NIM-RT-001\n    params: {minNofile: 1024}\n"
    )
    env = {
        "NIMDOCTOR_HOST_ROOT": str(low_host),
        "NIMDOCTOR_CHECKS_DIR": str(tmp_path / "o"),
        "NIMDOCTOR_NODE_NAME": "from-env",
    }
    result = invoke("run", "--only", RT, "-o", "json", env=env)
    report = json.loads(result.stdout)
    assert result.exit_code == 0
    assert report["node"] == "from-env"
    assert report["facts"]["runtime"]["procRoot"] == str(low_host / "proc")


def test_checks_lists_the_catalog() -> None:
    result = invoke("checks")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split() == ["ID", "SEVERITY", "TITLE"]
    assert "NIM-RT-001" in result.stdout
    data = {c["id"]: c for c in json.loads(invoke("checks", "-o", "json").stdout)["items"]}
    assert {"severity": "warning", "area": "runtime"}.items() <= data["NIM-RT-001"].items()


def test_explain_prints_why_fix_and_runbook() -> None:
    result = invoke("explain", "nim-rt-001")
    assert result.exit_code == 0
    for needle in ("NIM-RT-001", "Why:", "Too many open files", "Fix:", "LimitNOFILE=65536", "Runbook:"):
        assert needle in " ".join(result.stdout.split())


def test_explain_unknown_id_exits_2() -> None:
    result = invoke("explain", "NIM-RT-999")
    assert result.exit_code == 2
    assert "unknown check id 'NIM-RT-999'" in result.stderr


def test_version() -> None:
    assert invoke("--version").stdout.strip() == f"nimdoctor, version {__version__}"
