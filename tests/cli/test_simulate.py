"""`nimdoctor run --simulate` on the built-in machines: the whole pipeline through the NVML fake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from nimdoctor.cli import cli
from nimdoctor.report import report_schema
from nimdoctor.simulation.machine import builtin_names
from tests.hosts import Proc, host_tree, limits_text


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def simulate(name: str, *args: str) -> tuple[int, Any]:
    result = invoke("run", "--simulate", name, "-o", "json", *args)
    return result.exit_code, json.loads(result.stdout)


def by_id(report: Any) -> dict[str, Any]:
    return {f["id"]: f for f in report["findings"]}


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_machine_gives_a_valid_report_without_traceback(name: str) -> None:
    result = invoke("run", "--simulate", name, "-o", "json")
    assert result.exit_code in (0, 1, 3), result.output
    report = json.loads(result.stdout)
    jsonschema.validate(report, report_schema())
    assert report["node"] == name
    assert report["simulated"] == name
    assert "Traceback" not in result.output


def test_dgx_h100_is_ready_with_one_nvlink_clique_of_8() -> None:
    code, report = simulate("dgx-h100")
    assert code == 0, [f for f in report["findings"] if f["status"] not in ("pass", "skip")]
    assert report["ready"] is True
    assert report["facts"]["gpu"]["nvlink"] == {"cliques": [list(range(8))], "maxClique": 8}
    caps = report["capabilities"]
    assert caps["gpuProduct"] == "H100-SXM"
    assert (caps["gpuCount"], caps["maxNvlinkClique"], caps["computeCapability"]) == (8, 8, "9.0")
    assert caps["gpuMemoryBytes"] == 81559 * 2**20
    assert caps["nofileSoft"] == 1048576  # the VKS-like default host
    assert by_id(report)["NIM-GPU-005"]["status"] == "pass"


def test_l40s_vgpu_cannot_serve_multi_gpu_models_and_says_the_fix() -> None:
    code, report = simulate("l40s-vgpu-2x")
    finding = by_id(report)["NIM-GPU-006"]
    assert code == 1
    assert finding["status"] == "fail"
    assert "multi-GPU models cannot run here" in finding["message"]
    assert "passthrough" in finding["fix"]
    assert report["capabilities"]["virtualization"] == "vgpu"
    assert report["capabilities"]["gpuProduct"] == "L40S"


def test_no_driver_is_a_clear_failure_not_a_traceback() -> None:
    result = invoke("run", "--simulate", "no-driver")
    assert result.exit_code == 1
    assert "NIM-GPU-001 FAIL" in result.stdout
    assert "libnvidia-ml.so.1 is not loadable" in result.stdout
    assert "Traceback" not in result.output
    report = json.loads(invoke("run", "--simulate", "no-driver", "-o", "json").stdout)
    assert report["ready"] is False
    assert report["facts"]["gpu"]["nvmlError"]["code"] == "LibraryNotFound"
    assert "gpuCount" not in report["capabilities"]


def test_gpu_lost_names_gpu_3_and_the_others_still_count() -> None:
    code, report = simulate("gpu-lost")
    finding = by_id(report)["NIM-GPU-003"]
    assert code == 1
    assert report["ready"] is False
    assert finding["status"] == "fail"
    assert "GPU 3" in finding["message"]
    assert report["capabilities"]["gpuCount"] == len(report["facts"]["gpu"]["gpus"]) - 1


def test_containerd2_machine_fails_the_open_file_check() -> None:
    code, report = simulate("dgx-h100-containerd2")
    finding = by_id(report)["NIM-RT-001"]
    assert code == 1
    assert finding["status"] == "fail"
    assert finding["evidence"]["nofileSoft"] == 1024
    assert finding["evidence"]["nofileHard"] == 524288
    assert report["capabilities"]["nofileSoft"] == 1024


def test_a100_mig_warns_about_mig() -> None:
    _, report = simulate("a100-mig")
    assert by_id(report)["NIM-GPU-007"]["status"] in ("warn", "fail")
    assert report["capabilities"]["migEnabled"] is True


def test_node_name_overrides_the_machine_name() -> None:
    _, report = simulate("l40s-4x", "--node-name", "worker-7")
    assert report["node"] == "worker-7"


def test_explicit_host_root_replaces_the_described_host(tmp_path: Path) -> None:
    host_tree(tmp_path).add(Proc(pid=31337, limits=limits_text(2048, 4096)))
    _, report = simulate("dgx-h100-containerd2", "--host-root", str(tmp_path), "--only", "NIM-RT-001")
    assert by_id(report)["NIM-RT-001"]["evidence"]["pid"] == 31337


def test_simulation_never_reads_the_real_host() -> None:
    _, report = simulate("l40s-4x", "--only", "NIM-RT-003")
    assert report["facts"]["runtime"]["procRoot"] == "machine l40s-4x:/proc"


def test_machine_file_with_a_relative_host_root(tmp_path: Path) -> None:
    host_tree(tmp_path / "hostdir").add(Proc(pid=77, limits=limits_text(1024, 524288)))
    text = invoke("machine", "show", "l40s-4x", "-o", "yaml").stdout
    (tmp_path / "box.yaml").write_text(text + "host:\n  root: hostdir\n")
    result = invoke("run", "--machine", str(tmp_path / "box.yaml"), "-o", "json", "--only", "NIM-RT-001")
    assert json.loads(result.stdout)["findings"][0]["evidence"]["pid"] == 77


def test_unknown_machine_and_both_options_are_input_errors(tmp_path: Path) -> None:
    unknown = invoke("run", "--simulate", "dgx-z9000")
    assert unknown.exit_code == 2
    assert "dgx-h100" in unknown.stderr
    both = invoke("run", "--simulate", "dgx-h100", "--machine", str(tmp_path / "x.yaml"))
    assert both.exit_code == 2
    (tmp_path / "bad.yaml").write_text("apiVersion: nimdoctor.io/v1alpha1\nkind: Machine\nmetadata: {}\n")
    bad = invoke("run", "--machine", str(tmp_path / "bad.yaml"))
    assert bad.exit_code == 2
    assert "bad.yaml" in bad.stderr


def test_node_labels_of_a_machine_feed_the_sharing_check(tmp_path: Path) -> None:
    text = invoke("machine", "show", "l40s-4x", "-o", "yaml").stdout
    labels = (
        "nodeLabels:\n"
        "  nvidia.com/gpu.product: NVIDIA-L40S-SHARED\n"
        "  nvidia.com/gpu.sharing-strategy: time-slicing\n"
    )
    (tmp_path / "shared.yaml").write_text(text + labels)
    result = invoke("run", "--machine", str(tmp_path / "shared.yaml"), "-o", "json", "--only", "NIM-GPU-010")
    finding = json.loads(result.stdout)["findings"][0]
    assert result.exit_code == 1
    assert finding["status"] == "fail"
    assert finding["evidence"]["nvidia.com/gpu.sharing-strategy"] == "time-slicing"
