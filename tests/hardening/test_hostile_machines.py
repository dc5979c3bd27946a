"""Machine descriptions and `nvidia-smi` captures beyond what hardware can be: refused with exit code 2
and a short error naming the file and the field, never a crash, a wrapped integer or an echo of the input."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from nimdoctor.simulation.machine import load_builtin
from nimdoctor.topo import TopoParseError, parse_topo
from tests.hardening.conftest import Cli
from tests.hosts import FIXTURES

BASE: dict[str, Any] = msgspec.to_builtins(load_builtin("l40s-4x").spec)
TOPO = (FIXTURES / "topo-m_4x-l40s_node-sys_2nic.txt").read_text()
SMI_Q = (FIXTURES / "nvidia-smi-q_vgpu-guest_grid-v100d-8c_vsphere-tkgi.txt").read_text()


def machine_file(tmp_path: Path, change: Any) -> Path:
    raw = copy.deepcopy(BASE)
    change(raw)
    path = tmp_path / "box.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def refused(cli: Cli, *args: str) -> str:
    result = cli(*args)
    assert result.code == 2, result.out + result.err
    assert len(result.err.splitlines()) == 1, result.err
    assert len(result.err) < 400
    return result.err


def gpu0(**fields: Any) -> Any:
    return lambda raw: raw["gpus"][0].update(fields)


def many_gpus(raw: dict[str, Any]) -> None:
    raw["gpus"] = [
        {**raw["gpus"][0], "index": n, "busId": f"00000000:{n + 1:02X}:00.0", "uuid": f"GPU-{n}"}
        for n in range(65)
    ]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (many_gpus, "$.gpus"),
        (gpu0(nvlink={"links": [{"remote": "gpu:1", "count": 37}]}), "count"),
        (
            gpu0(nvlink={"links": [{"remote": "gpu:1", "count": 20}, {"remote": "gpu:2", "count": 20}]}),
            "36 links",
        ),
        (gpu0(nvlink={"links": [{"remote": "gpu:\u00b2"}]}), "no such peer GPU"),
        (gpu0(nvlink={"links": [{"remote": "gpu:\u0661"}]}), "no such peer GPU"),
        (gpu0(memory={"totalMib": 0}), "totalMib"),
        (gpu0(memory={"totalMib": 2**60}), "totalMib"),
        (gpu0(memory={"totalMib": 1024, "reservedMib": 1000, "usedMib": 100}), "reserved plus used"),
        (gpu0(pciDeviceId=2**40), "pciDeviceId"),
        (gpu0(pciDeviceId=-1), "pciDeviceId"),
        (gpu0(busId="0000:\u0661\u0668:00.0"), "busId"),
        (gpu0(computeCapability="\u0669.0"), "computeCapability"),
        (gpu0(name="N" * 200), "name"),
        (gpu0(index=2**70), "index"),
        (gpu0(faults=[{"function": "*", "hangSeconds": float("nan")}]), "hangSeconds"),
        (gpu0(faults=[{"function": "*", "hangSeconds": 1e12}]), "hangSeconds"),
        (lambda raw: raw["system"].update(cuda=2**64), "cuda"),
        (
            lambda raw: raw.update(host={"containerd": {"nofileSoft": 2**70, "nofileHard": 2**70}}),
            "nofile",
        ),
        (
            lambda raw: raw.update(host={"containerd": {"nofileSoft": 65536, "nofileHard": 1024}}),
            "soft limit",
        ),
        (lambda raw: raw.update(host={"nrOpen": 2**40}), "nrOpen"),
    ],
)
def test_a_description_beyond_hardware_is_refused(cli: Cli, tmp_path: Path, change: Any, where: str) -> None:
    path = machine_file(tmp_path, change)
    line = refused(cli, "run", "--machine", str(path), "--only", "NIM-GPU-001")
    assert str(path) in line
    assert where in line


def test_a_50_mb_one_line_topo_gives_a_short_error(cli: Cli, tmp_path: Path) -> None:
    capture = tmp_path / "topo.txt"
    capture.write_text("GPU0\t" + "X" * (50 << 20))
    line = refused(cli, "machine", "import", "--topo", str(capture))
    assert "larger than 8 MiB" in line


def test_the_parser_itself_never_echoes_a_huge_line() -> None:
    with pytest.raises(TopoParseError) as info:
        parse_topo("GPU0 " + "Y" * (2 << 20))
    assert len(str(info.value)) < 300
    with pytest.raises(TopoParseError) as info:
        parse_topo("\tGPU0\tGPU1\nGPU0\t X\t" + "Z" * 100_000 + "\n")
    assert len(str(info.value)) < 300


@pytest.mark.parametrize(
    ("topo", "problem"),
    [
        (TOPO.replace("GPU1 ", "GPU\u0661 ", 1), "header"),
        (
            TOPO.replace(
                "NODE    SYS     SYS     SYS     SYS     0-95",
                "NV\u0662     SYS     SYS     SYS     SYS     0-95",
                1,
            ),
            "unknown cell",
        ),
        (TOPO.replace("0               N/A\nGPU1", "\u0660               N/A\nGPU1", 1), "NUMA Affinity"),
        ("\t" + "\t".join(f"GPU{n}" for n in range(65)) + "\n", "65 GPUs"),
    ],
)
def test_captures_with_odd_digits_or_too_many_gpus(cli: Cli, tmp_path: Path, topo: str, problem: str) -> None:
    capture = tmp_path / "topo.txt"
    capture.write_text(topo)
    assert problem in refused(cli, "machine", "import", "--topo", str(capture), "--gpu", "NVIDIA L40S")


def test_a_smi_q_memory_beyond_any_gpu_is_refused(cli: Cli, tmp_path: Path) -> None:
    topo = tmp_path / "topo.txt"
    topo.write_text("\tGPU0\tCPU Affinity\tNUMA Affinity\nGPU0\t X \t0-7\t0\n")
    smi = tmp_path / "q.txt"
    smi.write_text(SMI_Q.replace("Total                             : 8192 MiB", "Total : 999999999 MiB", 1))
    line = refused(cli, "machine", "import", "--topo", str(topo), "--smi-q", str(smi))
    assert "totalMib" in line
