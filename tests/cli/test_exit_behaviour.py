"""Exit codes a CI job or an exec probe can choose: `--fail-on`, and `--only`/`--skip` to pick checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from nimdoctor.cli import cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# The operator's autoscaling sample sets replicas beside scale.enabled: NIM-WL-005 fails (critical), and a
# site overlay may lower it to a warning.
AUTOSCALING = FIXTURES / "k8s-nim-operator__serving__standalone__autoscaling__llm.yaml"
AS_WARNING = (
    "apiVersion: nimdoctor.io/v1alpha1\nkind: CheckCatalog\nchecks: [{id: NIM-WL-005, severity: warning}]\n"
)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def statuses(result: Result) -> dict[str, str]:
    return {f["id"]: f["status"] for f in json.loads(result.stdout)["findings"]}


def test_a_failing_warning_check_exits_1_by_default_and_0_with_fail_on_critical() -> None:
    default = invoke("run", "--simulate", "dgx-h100-containerd2", "-o", "json")
    critical = invoke("run", "--simulate", "dgx-h100-containerd2", "-o", "json", "--fail-on", "critical")
    assert statuses(default)["NIM-RT-001"] == statuses(critical)["NIM-RT-001"] == "fail"
    assert json.loads(critical.stdout)["ready"] is True
    assert (default.exit_code, critical.exit_code) == (1, 0)
    assert invoke("run", "--simulate", "dgx-h100-containerd2", "--fail-on", "warning").exit_code == 1


def test_a_failing_critical_check_exits_1_whatever_fail_on_says() -> None:
    result = invoke("run", "--simulate", "gpu-lost", "-o", "json", "--fail-on", "critical")
    assert statuses(result)["NIM-GPU-003"] == "fail"
    assert result.exit_code == 1


def test_a_model_that_does_not_fit_exits_1_under_fail_on_critical_too() -> None:
    model = "meta/llama-3.3-nemotron-super-49b-v1"
    args = ("run", "--simulate", "dgx-h100-containerd2", "--model", model, "--fail-on", "critical")
    assert invoke(*args).exit_code == 1
    assert invoke(*args, "--only", "NIM-GPU-001").exit_code == 1  # the model's verdict, not a node check


def test_fail_on_takes_only_the_two_levels() -> None:
    result = invoke("run", "--simulate", "dgx-h100", "--fail-on", "info")
    assert result.exit_code == 2
    assert "'critical', 'warning'" in result.stderr


def test_skip_leaves_the_other_checks() -> None:
    result = invoke(
        "run", "--simulate", "dgx-h100-containerd2", "-o", "json", "--skip", "nim-rt-001,NIM-GPU-010"
    )
    found = statuses(result)
    assert "NIM-RT-001" not in found
    assert "NIM-GPU-010" not in found
    assert {"NIM-GPU-001", "NIM-RT-002", "NIM-RT-003"} <= set(found)
    assert result.exit_code == 0  # the only failing check was skipped


def test_only_and_skip_together_run_the_first_list_less_the_second() -> None:
    result = invoke(
        "run",
        "--simulate",
        "dgx-h100",
        "-o",
        "json",
        "--only",
        "NIM-RT-001,NIM-RT-003",
        "--skip",
        "NIM-RT-003",
    )
    assert list(statuses(result)) == ["NIM-RT-001"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--skip", "NIM-XX-001"], "--skip: unknown check id(s): NIM-XX-001"),
        (["--only", "NIM-RT-001", "--skip", "NIM-RT-001"], "leave no check to run"),
        (["--skip", " , "], "give at least one check id"),
    ],
)
def test_a_selection_that_names_nothing_runnable_is_a_usage_error(args: list[str], says: str) -> None:
    result = invoke("run", "--simulate", "dgx-h100", *args)
    assert result.exit_code == 2
    assert says in result.stderr


def test_lint_fails_on_a_warning_check_unless_told_critical(tmp_path: Path) -> None:
    overlay = tmp_path / "checks.d"
    overlay.mkdir()
    (overlay / "site.yaml").write_text(AS_WARNING)
    manifest = tmp_path / "svc.yaml"
    manifest.write_text(AUTOSCALING.read_text())
    lowered = ("--checks-dir", str(overlay), "--skip", "NIM-WL-003")  # its RWO cache fails NIM-WL-003 too
    default = invoke("lint", str(manifest), "-o", "json", *lowered)
    assert {k for k, v in statuses(default).items() if v == "fail"} == {"NIM-WL-005"}
    assert default.exit_code == 1
    assert invoke("lint", str(manifest), *lowered, "--fail-on", "critical").exit_code == 0
    assert invoke("lint", str(manifest), "--skip", "NIM-WL-003", "--fail-on", "critical").exit_code == 1
    skipped = invoke("lint", str(manifest), "-o", "json", "--skip", "NIM-WL-003,NIM-WL-005")
    assert (skipped.exit_code, "NIM-WL-005" in statuses(skipped)) == (0, False)
    node_check = invoke("lint", str(manifest), "-o", "json", "--skip", "NIM-RT-001")  # not a lint check
    assert statuses(node_check) == statuses(invoke("lint", str(manifest), "-o", "json"))
    assert invoke("lint", str(manifest), "--skip", "NIM-WL-999").exit_code == 2
