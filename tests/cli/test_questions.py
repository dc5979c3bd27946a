"""Questions before guesses: a model name close to a catalog one, facts a machine description does not hold,
and empty values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from nimdoctor.cli import cli
from tests.hosts import Proc, host_tree, limits_text
from tests.topo.captures import FIXTURES, HGX_H100, VGPU_SMI_Q

TOPO = str(FIXTURES / HGX_H100)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def by_id(report: Any) -> dict[str, Any]:
    return {f["id"]: f for f in report["findings"]}


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    """An 8x H100 board imported from `nvidia-smi topo -m` and a GPU name: no driver, no host."""
    path = tmp_path / "box.yaml"
    result = invoke("machine", "import", "--topo", TOPO, "--gpu", "NVIDIA H100 80GB HBM3", "--to", str(path))
    assert result.exit_code == 0, result.output
    return path


@pytest.mark.parametrize("command", [("run", "--simulate", "dgx-h100"), ("plan",), ("capacity", "--reports")])
def test_a_typo_of_a_catalog_model_exits_2_with_the_suggestion(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    where = (str(tmp_path),) if command[-1] == "--reports" else ()  # capacity: an empty folder of reports
    result = invoke(*command, *where, "--model", "meta/llama-3.1-70b-instruc", "-o", "json")
    assert result.exit_code == 2
    assert result.stdout == ""  # no FITS answer from a guessed size
    assert "did you mean meta/llama-3.1-70b-instruct?" in result.stderr


def test_a_name_with_no_close_match_is_sized_from_its_name_with_the_caution() -> None:
    result = invoke("run", "--simulate", "dgx-h100", "--model", "meta/llama-3.2-70b-instruct", "-o", "json")
    requirement = json.loads(result.stdout)["placement"]["requirement"]
    assert result.stderr.startswith("Warning: ")
    assert "its size (70B) was read from its name" in result.stderr
    assert (requirement["paramsB"], requirement["paramsSource"]) == (70, "name")
    table = invoke("run", "--simulate", "dgx-h100", "--model", "meta/llama-3.2-70b-instruct").stdout
    assert "70B params (read from the name: not in the model catalog)" in " ".join(table.split())


def test_a_catalog_model_raises_no_question() -> None:
    result = invoke("plan", "--model", "meta/llama-3.1-8b-instruct", "-o", "json")
    assert result.stderr == ""
    plan = json.loads(result.stdout)
    assert (plan["didYouMean"], plan["paramsSource"]) == ([], "catalog")


def test_plan_lists_the_suggestions_and_an_unsized_model_exits_3_on_every_machine(tmp_path: Path) -> None:
    close = json.loads(invoke("plan", "--model", "meta/llama-3.2-8b-instruct", "-o", "json").stdout)
    assert "meta/llama-3.1-8b-instruct" in close["didYouMean"]
    mig = tmp_path / "a100-mig.yaml"
    mig.write_text(invoke("machine", "show", "a100-mig", "-o", "yaml").stdout)
    result = invoke("plan", "--model", "acme/mystery", "--machine", str(mig), "-o", "json")
    plan = json.loads(result.stdout)
    assert result.exit_code == 3  # not 1, although the MIG machine says no: the question was not answerable
    assert plan["paramsB"] is None
    assert plan["machines"][0]["fits"] is False
    assert "carries no size" in result.stderr


def test_an_imported_machine_does_not_invent_driver_or_open_file_limits(imported: Path) -> None:
    result = invoke("run", "--machine", str(imported), "-o", "json")
    report = json.loads(result.stdout)
    found = by_id(report)
    unmeasured = report["facts"]["unmeasured"]
    assert result.exit_code == 0
    assert set(unmeasured) == {"driver", "openFiles"}
    assert report["facts"]["gpu"]["driverVersion"] is None
    assert report["facts"]["gpu"]["nvmlVersion"] is None
    assert "runtime" not in report["facts"]
    assert "nofileSoft" not in report["capabilities"]
    assert found["NIM-GPU-009"]["status"] == "skip"
    assert "--smi-q" in found["NIM-GPU-009"]["message"]
    for check in ("NIM-RT-001", "NIM-RT-002", "NIM-RT-003"):
        assert found[check]["status"] == "skip"
        assert found[check]["message"] == f"unknown: {unmeasured['openFiles']}"


def test_a_large_model_on_an_imported_machine_warns_that_open_files_are_unknown(imported: Path) -> None:
    result = invoke(
        "plan", "--model", "meta/llama-3.1-70b-instruct", "--machine", str(imported), "-o", "json"
    )
    row = json.loads(result.stdout)["machines"][0]
    assert result.exit_code == 0
    assert row["fits"] is True
    assert row["reason"] is None
    assert any(w.startswith("NIM-FIT-005 ") for w in row["warnings"])


def test_the_import_says_what_it_does_not_know(imported: Path) -> None:
    text = imported.read_text()
    assert "driver and CUDA versions are unknown" in " ".join(text.replace("# ", "").split())
    table = invoke("machine", "import", "--topo", TOPO, "--gpu", "NVIDIA H100 80GB HBM3").stdout
    assert "unknown: the machine description has no host section" in " ".join(table.split())


def test_nvidia_smi_q_gives_the_driver_and_a_host_root_the_open_files(tmp_path: Path) -> None:
    topo = tmp_path / "one.txt"
    topo.write_text("GPU0\tNUMA Affinity\nGPU0\t X \t0\n")
    box = tmp_path / "v100.yaml"
    invoke("machine", "import", "--topo", str(topo), "--smi-q", str(FIXTURES / VGPU_SMI_Q), "--to", str(box))
    report = json.loads(invoke("run", "--machine", str(box), "-o", "json").stdout)
    assert report["facts"]["unmeasured"].keys() == {"openFiles"}
    assert by_id(report)["NIM-GPU-009"]["message"].startswith("driver ")
    host_tree(tmp_path / "host").add(Proc(pid=42, limits=limits_text(1048576, 1048576)))
    measured = invoke("run", "--machine", str(box), "--host-root", str(tmp_path / "host"), "-o", "json")
    report = json.loads(measured.stdout)
    assert by_id(report)["NIM-RT-001"]["status"] == "pass"
    assert "unmeasured" not in report["facts"]


def test_built_in_machines_say_they_stand_for_vks_nodes() -> None:
    report = json.loads(invoke("run", "--simulate", "l40s-4x", "-o", "json").stdout)
    assert "unmeasured" not in report["facts"]
    assert by_id(report)["NIM-RT-001"]["evidence"]["nofileSoft"] == 1048576
    assert by_id(report)["NIM-GPU-009"]["status"] == "pass"


def test_a_host_preset_with_its_own_files_is_an_input_error(tmp_path: Path) -> None:
    text = invoke("machine", "show", "l40s-4x", "-o", "yaml").stdout
    box = tmp_path / "box.yaml"
    box.write_text(
        text.replace("  preset: vks\n", "  preset: vks\n  containerd: {nofileSoft: 1024, nofileHard: 1024}\n")
    )
    result = invoke("run", "--machine", str(box))
    assert result.exit_code == 2
    assert "host.preset stands for the whole host" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["machine", "import", "--topo", TOPO, "--gpu", ""],
        ["machine", "import", "--topo", TOPO, "--name", ""],
        ["machine", "import", "--topo", TOPO, "--name", "  "],
        ["run", "--simulate", "dgx-h100", "--model", ""],
        ["plan", "--model", ""],
        ["run", "--simulate", "dgx-h100", "--node-name", ""],
    ],
    ids=["gpu", "name", "blank name", "run model", "plan model", "node name"],
)
def test_an_empty_value_is_a_usage_error(args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert "must not be empty" in result.stderr
    assert result.stdout == ""


def test_a_catalog_model_named_under_another_organisation_is_said_to_be_read_as_the_catalog_s() -> None:
    result = invoke("plan", "--model", "meta/llama-3.3-nemotron-super-49b-v1", "-o", "json")
    assert result.exit_code == 0
    assert result.stderr == (
        "Note: model 'meta/llama-3.3-nemotron-super-49b-v1' is read as the catalog's "
        "nvidia/llama-3.3-nemotron-super-49b-v1\n"
    )
    assert json.loads(result.stdout)["resolvedModel"] == "nvidia/llama-3.3-nemotron-super-49b-v1"
    aliased = invoke("plan", "--model", "meta-llama/Llama-3.1-8B-Instruct", "-o", "json")
    assert aliased.stderr == ""  # an alias the catalog lists is no surprise


def test_the_readme_quickstart_names_the_model_as_the_catalog_does() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    command = readme.split("## Quickstart", 1)[1].split("pip install . && ", 1)[1].split("\n", 1)[0]
    model = command.split("--model ", 1)[1].split()[0]
    assert invoke("plan", "--model", model, "-o", "json").stderr == ""
