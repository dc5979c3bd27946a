"""`nimdoctor capacity`'s table names each blocked node with its check id and each unlock with its fix; bad
input is an input error naming the file, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from nimdoctor.cli import cli
from tests.capacity.fleet import LLAMA_70B, machine, pod, write_pods, write_reports


def table(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["capacity", *map(str, args), "--trust-simulated"], env={"COLUMNS": "200"}
    )
    return result.exit_code, result.output


def test_the_table_names_blocked_nodes_by_check_and_the_unlock_by_its_fix(tmp_path: Path) -> None:
    reports = write_reports(
        tmp_path / "r", {"dgx-1": machine("dgx-h100"), "low": machine("dgx-h100", nofile=1024)}
    )
    pods = write_pods(tmp_path / "p.json", [pod("a", "dgx-1", 8)])
    code, text = table("--model", LLAMA_70B, "--reports", reports, "--pods", pods)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["MODEL", LLAMA_70B, "REPLICAS", "0"]
    [low] = [line for line in lines if line.startswith("low ")]
    assert low.split()[:7] == ["low", "blocked", "8", "8", "2", "0", "NIM-FIT-005"]
    assert "add a LimitNOFILE drop-in" in low
    [full] = [line for line in lines if line.startswith("dgx-1 ")]
    assert "needs 2 nvidia.com/gpu per pod; 0 of 8 free" in full
    unlock = lines[lines.index("UNLOCK (each fix alone, on the nodes named):") + 2]
    assert unlock.split()[:3] == ["NIM-FIT-005", "low", "+4"]
    assert "large model needs a higher containerd open-file limit" in unlock
    assert code == 1


def test_wide_says_how_cliques_were_checked(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "r", {"pairs": machine("h100-pcie-nvlink-pairs")})
    pods = write_pods(tmp_path / "p.json", [pod("a", "pairs")])
    _, text = table("--model", LLAMA_70B, "--reports", reports, "--pods", pods, "-o", "wide")
    assert "assumed" in text.split("\n")[3]
    assert "Note: cliques assumed: which GPUs are taken is unknown" in text


def test_an_unknown_model_size_leaves_every_node_unknown_and_exits_3(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "r", {"dgx-1": machine("dgx-h100")})
    result = CliRunner().invoke(
        cli,
        [
            "capacity",
            "--model",
            "acme/mystery-model",
            "--reports",
            str(reports),
            "--trust-simulated",
            "-o",
            "json",
        ],
    )
    assert result.exit_code == 3
    assert json.loads(result.stdout)["nodes"][0]["status"] == "unknown"


def test_a_pods_file_that_is_not_a_pod_list_is_an_input_error(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "r", {"dgx-1": machine("dgx-h100")})
    bad = tmp_path / "pods.json"
    bad.write_text('{"kind": "Pod"}')
    code, text = table("--model", LLAMA_70B, "--reports", reports, "--pods", bad)
    assert code == 2
    assert f"--pods {bad}: not a pod list: no items" in text


def test_an_unreadable_report_is_an_input_error_naming_the_file(tmp_path: Path) -> None:
    reports = tmp_path / "r"
    reports.mkdir()
    (reports / "gpu-1.json").write_text('{"kind": "Report"')
    code, text = table("--model", LLAMA_70B, "--reports", reports)
    assert code == 2
    assert "gpu-1.json: not valid JSON" in text


def test_an_invalid_report_of_a_named_node_costs_that_node_only(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "r", {"dgx-1": machine("dgx-h100"), "bad": machine("dgx-h100")})
    bad = json.loads((reports / "bad.json").read_text())
    bad["capabilities"]["gpuCount"] = "eight"
    (reports / "bad.json").write_text(json.dumps(bad))
    result = CliRunner().invoke(
        cli, ["capacity", "--model", LLAMA_70B, "--reports", str(reports), "--trust-simulated", "-o", "json"]
    )
    document = json.loads(result.stdout)
    [entry] = [n for n in document["nodes"] if n["node"] == "bad"]
    assert entry["status"] == "unknown"
    assert entry["reason"].startswith("the NodeReport is invalid (capabilities.gpuCount:")
    assert (document["replicas"], document["unjudged"], result.exit_code) == (4, 1, 0)
