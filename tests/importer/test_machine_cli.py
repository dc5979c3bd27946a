"""`nimdoctor machine list | show | import` through click, with exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from nimdoctor.cli import cli
from nimdoctor.simulation.machine import builtin_names, load_builtin, parse_machine
from tests.topo.captures import FIXTURES, HGX_H100, L40S_4X, VGPU_SMI_Q, capture, with_terminal_underline

HGX = str(FIXTURES / HGX_H100)
L40S = str(FIXTURES / L40S_4X)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_table_names_every_builtin_with_its_gpu_count() -> None:
    code, out, _ = invoke("machine", "list")
    assert code == 0
    assert out.splitlines()[0].split() == ["NAME", "GPUS", "DESCRIPTION"]
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:] if line[:1].strip()}
    assert set(builtin_names()) <= set(rows)
    assert rows["dgx-h100"] == "8"
    assert rows["l40s-4x"] == "4"


def test_list_json_and_yaml_carry_name_gpus_and_description() -> None:
    code, out, _ = invoke("machine", "list", "-o", "json")
    assert code == 0
    document = json.loads(out)
    data = document["items"]
    assert (document["apiVersion"], document["kind"]) == ("nimdoctor.io/v1alpha1", "MachineList")
    assert [d["name"] for d in data] == builtin_names()
    dgx = next(d for d in data if d["name"] == "dgx-h100")
    assert dgx["gpus"] == 8
    assert dgx["description"] == load_builtin("dgx-h100").spec.metadata.description
    code, out, _ = invoke("machine", "list", "-o", "yaml")
    assert code == 0
    assert yaml.safe_load(out) == document


def test_list_wide_adds_gpu_model_and_virtualization() -> None:
    code, out, _ = invoke("machine", "list", "-o", "wide")
    assert code == 0
    assert out.splitlines()[0].split()[:4] == ["NAME", "GPUS", "GPU-MODEL", "VIRTUALIZATION"]
    assert "vgpu" in out


def test_show_prints_the_description_as_yaml() -> None:
    code, out, _ = invoke("machine", "show", "dgx-h100", "-o", "yaml")
    assert code == 0
    assert parse_machine(out, "shown").spec == load_builtin("dgx-h100").spec


def test_show_table_lists_the_gpus() -> None:
    code, out, _ = invoke("machine", "show", "l40s-vgpu-2x")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["MACHINE", "l40s-vgpu-2x", "GPUS", "2", "VIRTUALIZATION", "vgpu"]
    header = next(i for i, line in enumerate(lines) if line.startswith("GPU "))
    assert lines[header].split() == ["GPU", "NAME", "MEMORY", "BUS-ID", "NUMA", "NVLINKS"]
    assert lines[header + 1].split()[:5] == ["GPU0", "NVIDIA", "L40S-48C", "48.0", "GiB"]


def test_show_unknown_name_is_exit_2_listing_known_names() -> None:
    code, _, err = invoke("machine", "show", "dgx-z9")
    assert code == 2
    assert "dgx-z9" in err
    assert "l40s-4x" in err


def test_import_prints_yaml_that_loads_as_a_machine() -> None:
    code, out, _ = invoke("machine", "import", "--topo", HGX, "--gpu", "NVIDIA H100 80GB HBM3", "-o", "yaml")
    assert code == 0
    spec = parse_machine(out, "stdout").spec
    assert spec.metadata.name == "topo-m_hgx-h100-sxm-8gpu_nv18_1nic"
    assert len(spec.gpus) == 8
    assert out.startswith("# Imported by `nimdoctor machine import`")


def test_import_with_smi_q_and_name(tmp_path: Path) -> None:
    topo = tmp_path / "one.txt"
    topo.write_text("GPU0\tNUMA Affinity\nGPU0\t X \t0\n")
    code, out, _ = invoke(
        "machine",
        "import",
        "--topo",
        str(topo),
        "--smi-q",
        str(FIXTURES / VGPU_SMI_Q),
        "--name",
        "tkgi",
        "-o",
        "yaml",
    )
    assert code == 0
    spec = parse_machine(out, "stdout").spec
    assert spec.metadata.name == "tkgi"
    assert spec.gpus[0].name == "GRID V100D-8C"


def test_import_to_file_writes_it_and_keeps_stdout_empty(tmp_path: Path) -> None:
    target = tmp_path / "box.yaml"
    code, out, err = invoke("machine", "import", "--topo", L40S, "--to", str(target))
    assert code == 0
    assert out == ""
    assert str(target) in err
    assert len(parse_machine(target.read_text(), str(target)).spec.gpus) == 4


def test_import_garbage_is_exit_2_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("\tGPU0\tGPU1\nGPU0\t X \tNV2\nGPU1\tbanana\t X \n")
    code, out, err = invoke("machine", "import", "--topo", str(bad))
    assert code == 2
    assert out == ""
    assert f"{bad}: line 3" in err
    assert "banana" in err
    assert "Traceback" not in err


def test_import_unknown_gpu_is_exit_2() -> None:
    code, _, err = invoke("machine", "import", "--topo", L40S, "--gpu", "NVIDIA Z9000")
    assert code == 2
    assert "NVIDIA L40S" in err


def test_import_smi_q_and_gpu_together_is_exit_2() -> None:
    code, _, err = invoke(
        "machine", "import", "--topo", L40S, "--smi-q", str(FIXTURES / VGPU_SMI_Q), "--gpu", "NVIDIA L40S"
    )
    assert code == 2
    assert "not both" in err


def test_import_missing_file_is_exit_2(tmp_path: Path) -> None:
    code, _, err = invoke("machine", "import", "--topo", str(tmp_path / "nope.txt"))
    assert code == 2
    assert "nope.txt" in err


def test_import_to_a_file_and_an_output_format_together_is_exit_2(tmp_path: Path) -> None:
    code, out, err = invoke("machine", "import", "--topo", L40S, "-o", "json", "--to", str(tmp_path / "x"))
    assert code == 2
    assert (out, "give --to or -o" in err) == ("", True)
    assert not (tmp_path / "x").exists()
    assert invoke("machine", "import", "--topo", L40S, "-o", "out.yaml")[0] == 2  # not a format


def test_import_requires_topo() -> None:
    code, _, err = invoke("machine", "import")
    assert code == 2
    assert "--topo" in err


def test_import_of_a_terminal_capture_with_an_underlined_header_and_a_workstation_gpu(tmp_path: Path) -> None:
    topo = tmp_path / "topo.txt"
    topo.write_text(with_terminal_underline(capture(L40S_4X)))
    assert "\x1b[4m" in topo.read_text()
    code, out, err = invoke(
        "machine", "import", "--topo", str(topo), "--gpu", "NVIDIA RTX A6000", "-o", "yaml"
    )
    assert code == 0, err
    spec = parse_machine(out, "stdout").spec
    assert [g.name for g in spec.gpus] == ["NVIDIA RTX A6000"] * 4
    assert {g.compute_capability for g in spec.gpus} == {"8.6"}
