"""`nimdoctor run --model`, `nimdoctor plan` and `nimdoctor topo` end to end through the NVML fake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from click.testing import CliRunner, Result

from nimdoctor.cli import cli
from nimdoctor.report import report_schema
from nimdoctor.simulation.machine import builtin_names
from nimdoctor.topo import gpu_matrix


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def run_model(machine: str, *args: str) -> tuple[int, Any]:
    result = invoke("run", "--simulate", machine, "-o", "json", "--model", *args)
    report = json.loads(result.stdout)
    jsonschema.validate(report, report_schema())
    return result.exit_code, report


def test_70b_fits_dgx_h100_at_tp2_in_fp8_with_the_search_shown() -> None:
    code, report = run_model("dgx-h100", "meta/llama-3.1-70b-instruct")
    placement = report["placement"]
    assert code == 0
    assert placement["fits"] is True
    assert placement["tried"] == [2]  # NVIDIA ships fp8 on H100 at TP 2, 4, 8
    requirement = placement["requirement"]
    assert (requirement["tensorParallel"], requirement["gpus"], requirement["precision"]) == (2, 2, "fp8")
    assert requirement["precisionSource"] == "nim-default"
    assert requirement["paramsB"] > 70


def test_49b_on_containerd2_does_not_fit_and_exits_1_with_the_drop_in() -> None:
    code, report = run_model("dgx-h100-containerd2", "meta/llama-3.3-nemotron-super-49b-v1")
    reasons = report["placement"]["reasons"]
    assert code == 1
    assert report["placement"]["fits"] is False
    assert reasons[0]["id"] == "NIM-FIT-005"
    assert "LimitNOFILE=65536" in reasons[0]["fix"]


def test_70b_on_l40s_vgpu_names_the_vgpu_reason_in_the_table() -> None:
    result = invoke("run", "--simulate", "l40s-vgpu-2x", "--model", "meta/llama-3.1-70b-instruct")
    assert result.exit_code == 1
    assert "MODEL meta/llama-3.1-70b-instruct   FITS no" in result.stdout
    assert "NIM-FIT-004 FAIL" in result.stdout


def test_fixed_tp_is_judged_as_asked() -> None:
    code, report = run_model("h100-pcie-nvlink-pairs", "meta/llama-3.1-70b-instruct", "--tp", "4")
    assert code == 0
    assert report["placement"]["tried"] == []
    # NVLink pairs warn; NVIDIA ships no H100 PCIe engine, so a generic vLLM profile runs (a caution).
    assert [r["id"] for r in report["placement"]["reasons"]] == ["NIM-FIT-003", "NIM-FIT-011"]
    assert {r["status"] for r in report["placement"]["reasons"]} == {"warn"}
    assert report["placement"]["requirement"]["engine"] == "vllm"


def test_unknown_model_is_not_guessed_and_exits_3() -> None:
    code, report = run_model("dgx-h100", "acme/mystery-model")
    reason = report["placement"]["reasons"][0]
    assert code == 3
    assert report["placement"]["requirement"]["paramsB"] is None
    assert reason["status"] == "error"
    assert "nimdoctor.io/model-params" in reason["fix"]


def test_model_options_without_model_and_bad_values_are_usage_errors() -> None:
    assert invoke("run", "--simulate", "dgx-h100", "--tp", "2").exit_code == 2
    assert invoke("run", "--simulate", "dgx-h100", "--model", "x", "--tp", "0").exit_code == 2
    bad = invoke(
        "run", "--simulate", "dgx-h100", "--model", "meta/llama-3.1-8b-instruct", "--precision", "fp3"
    )
    assert bad.exit_code == 2
    assert "fp3" in bad.stderr


def test_plan_covers_every_builtin_machine_and_matches_run() -> None:
    result = invoke("plan", "--model", "meta/llama-3.1-70b-instruct", "-o", "json")
    assert result.exit_code == 0
    rows = {row["machine"]: row for row in json.loads(result.stdout)["machines"]}
    assert sorted(rows) == builtin_names()
    for name in ("dgx-h100", "l40s-vgpu-2x", "no-driver"):
        _, report = run_model(name, "meta/llama-3.1-70b-instruct")
        assert rows[name]["fits"] == report["placement"]["fits"]
        assert rows[name]["tensorParallel"] == report["placement"]["requirement"]["tensorParallel"]
    assert rows["l40s-vgpu-2x"]["reason"].startswith("NIM-FIT-004 ")
    assert rows["no-driver"]["reason"].startswith("NIM-FIT-008 ")
    assert rows["dgx-h100"]["reason"] is None


def test_plan_table_and_exit_1_when_nothing_fits(tmp_path: Path) -> None:
    machine = tmp_path / "vgpu.yaml"
    machine.write_text(invoke("machine", "show", "l40s-vgpu-2x", "-o", "yaml").stdout)
    result = invoke("plan", "--model", "meta/llama-3.1-405b-instruct", "--machine", str(machine))
    assert result.exit_code == 1
    header = ["MACHINE", "GPUS", "FITS", "TP", "PREC", "REASON", "WARNINGS"]
    assert result.stdout.splitlines()[0].split() == header
    assert "l40s-vgpu-2x" in result.stdout


def _without_gpu_memory(tmp_path: Path, name: str) -> Path:
    described = yaml.safe_load(invoke("machine", "show", name, "-o", "yaml").stdout)
    for gpu in described["gpus"]:
        gpu["memory"] = None
    described["metadata"]["name"] = f"{name}-memory-unknown"
    machine = tmp_path / f"{name}.yaml"
    machine.write_text(yaml.safe_dump(described))
    return machine


def test_unknown_gpu_memory_is_unknown_in_plan_and_exit_3_in_run(tmp_path: Path) -> None:
    machine = _without_gpu_memory(tmp_path, "l40s-4x")
    plan = invoke("plan", "--model", "meta/llama-3.1-8b-instruct", "--machine", str(machine))
    assert plan.exit_code == 3
    row = plan.stdout.splitlines()[1].split()
    assert row[:3] == ["l40s-4x-memory-unknown", "4x", "L40S"]
    assert row[3] == "unknown"
    run = invoke("run", "--machine", str(machine), "--model", "meta/llama-3.1-8b-instruct", "-o", "json")
    assert run.exit_code == 3
    placement = json.loads(run.stdout)["placement"]
    assert placement["fits"] is None
    assert placement["reasons"][0]["status"] == "error"


def test_max_model_len_and_mig_reach_the_requirement() -> None:
    code, report = run_model(
        "a100-mig", "meta/llama-3.1-8b-instruct", "--mig", "3g.40gb", "--max-model-len", "32768"
    )
    requirement = report["placement"]["requirement"]
    assert code == 0
    assert report["placement"]["fits"] is True
    assert (requirement["migProfile"], requirement["maxContext"]) == ("3g.40gb", 32768)
    assert requirement["contextSource"] == "--max-model-len"
    assert [r["id"] for r in report["placement"]["reasons"]] == ["NIM-FIT-009"]  # a caution
    code, report = run_model("a100-mig", "meta/llama-3.1-8b-instruct", "--mig", "3g.40gb")
    # vLLM's rule: 15.0 GiB of weights, 16 GiB of KV cache (131072 tokens) and 3 GiB fit 0.9 x 39.25 GiB.
    assert code == 0
    assert report["placement"]["requirement"]["servedContext"] == 131072
    code, report = run_model("a100-mig", "meta/llama-3.1-8b-instruct", "--mig", "2g.20gb")
    assert code == 1
    assert report["placement"]["reasons"][0]["id"] == "NIM-FIT-001"
    assert "request a 3g.40gb MIG device" in report["placement"]["reasons"][0]["fix"]
    assert invoke("plan", "--model", "meta/llama-3.1-8b-instruct", "--mig", "40gb").exit_code == 2
    assert invoke("run", "--max-model-len", "8192").exit_code == 2


def test_plan_needs_a_model_and_readable_machines(tmp_path: Path) -> None:
    assert invoke("plan").exit_code == 2
    missing = invoke(
        "plan", "--model", "meta/llama-3.1-8b-instruct", "--machine", str(tmp_path / "none.yaml")
    )
    assert missing.exit_code == 2


def test_topo_renders_the_simulated_matrix() -> None:
    result = invoke("topo", "--simulate", "h100-pcie-nvlink-pairs")
    matrix = gpu_matrix(result.stdout)
    assert result.exit_code == 0
    assert matrix[0][1] == matrix[2][3] == "NV12"
    assert matrix[0][2] in ("NODE", "SYS", "PHB", "PXB", "PIX")


def test_topo_without_nvml_says_so_and_exits_3() -> None:
    result = invoke("topo", "--simulate", "no-driver")
    assert result.exit_code == 3
    assert "LibraryNotFound" in result.stdout


def test_topo_json_is_the_gpu_facts_and_the_matrix() -> None:
    topology = json.loads(invoke("topo", "--simulate", "dgx-h100", "-o", "json").stdout)
    facts = topology["gpu"]
    assert (topology["kind"], topology["node"]) == ("Topology", "dgx-h100")
    assert facts["nvlink"]["maxClique"] == 8
    assert len(facts["pairs"]) == 28
    assert topology["matrix"] == gpu_matrix(invoke("topo", "--simulate", "dgx-h100").stdout)


def test_nim_version_decides_the_engine_in_run_and_plan() -> None:
    model = "nvidia/llama-3.3-nemotron-super-49b-v1"
    code, report = run_model("dgx-h100", model)
    requirement = report["placement"]["requirement"]
    assert (code, requirement["tensorParallel"], requirement["engine"]) == (0, 1, "tensorrt_llm")
    assert "newest 1.x profiles assumed" in requirement["engineReason"]
    assert requirement["servedContext"] == 131072
    code, report = run_model("dgx-h100", model, "--nim-version", "2.0.3")
    requirement = report["placement"]["requirement"]
    assert (code, requirement["tensorParallel"], requirement["engine"]) == (0, 2, "vllm")
    assert requirement["nimVersion"] == "2.0.3"
    plan = json.loads(invoke("plan", "--model", model, "--nim-version", "2.0.3", "-o", "json").stdout)
    row = next(m for m in plan["machines"] if m["machine"] == "dgx-h100")
    assert (row["tensorParallel"], row["engine"]) == (2, "vllm")
    assert invoke("plan", "--model", model, "--nim-version", "latest").exit_code == 2
    assert invoke("run", "--nim-version", "1.14.0").exit_code == 2
