"""Golden (issue 3): a real `topo -m` capture, imported, probed through the NVML fake and rendered, gives
back the capture's GPU matrix. And every built-in machine renders a sane matrix."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nimdoctor.probes.gpu import probe_gpu
from nimdoctor.report import GpuFacts
from nimdoctor.simulation.machine import Machine, builtin_names, load_builtin, parse_machine
from nimdoctor.simulation.machine_import import import_machine
from nimdoctor.simulation.nvml import simulated_nvml
from nimdoctor.topo import parse_topo, render_topo
from tests.topo.captures import (
    HGX_H100,
    HGX_MATRIX,
    L40S_4X,
    L40S_MATRIX,
    as_spaces,
    capture,
    without_nics,
)


def probed(machine: Machine) -> GpuFacts:
    with simulated_nvml(machine)() as nvml:
        return probe_gpu(nvml)


@pytest.mark.parametrize(
    ("name", "gpu"),
    [
        (HGX_H100, None),
        (HGX_H100, "NVIDIA H100 80GB HBM3"),
        (L40S_4X, None),
        (L40S_4X, "NVIDIA L40S"),
    ],
)
def test_imported_capture_renders_back_its_gpu_matrix(name: str, gpu: str | None) -> None:
    original = parse_topo(capture(name))
    # Through the YAML text a user would pass to `--machine`, not just the in-memory spec.
    machine = parse_machine(import_machine(capture(name), gpu_name=gpu).to_yaml(), name)
    rendered = parse_topo(render_topo(probed(machine)))
    assert rendered.gpu_matrix() == original.gpu_matrix()
    assert [g.numa for g in rendered.gpus] == [g.numa for g in original.gpus]


@pytest.mark.parametrize("variant", [as_spaces, without_nics])
@pytest.mark.parametrize("name", [HGX_H100, L40S_4X])
def test_variants_of_a_capture_render_back_the_same_matrix(name: str, variant: Callable[[str], str]) -> None:
    machine = Machine(spec=import_machine(variant(capture(name))).spec)
    assert parse_topo(render_topo(probed(machine))).gpu_matrix() == parse_topo(capture(name)).gpu_matrix()


def test_imported_hgx_probes_as_one_nvlink_clique_of_8() -> None:
    facts = probed(Machine(spec=import_machine(capture(HGX_H100), gpu_name="NVIDIA H100 80GB HBM3").spec))
    assert facts.nvlink.cliques == [list(range(8))]
    assert facts.nvswitch_system


def test_imported_unknown_gpus_probe_without_memory() -> None:
    facts = probed(Machine(spec=import_machine(capture(L40S_4X)).spec))
    assert [g.memory_total_bytes for g in facts.gpus] == [None] * 4
    assert [g.compute_capability for g in facts.gpus] == [None] * 4


def _rendered(name: str) -> str:
    return render_topo(probed(load_builtin(name)))


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_machine_renders_a_square_symmetric_matrix(name: str) -> None:
    facts = probed(load_builtin(name))
    lines = render_topo(facts).splitlines()
    if not facts.gpus:
        assert len(lines) == 1
        return
    n = len(facts.gpus)
    rows = [line.split() for line in lines[1 : n + 1]]
    assert [row[0] for row in rows] == [f"GPU{i}" for i in range(n)]
    assert all(len(row) == n + 2 and row[1 + i] == "X" for i, row in enumerate(rows))
    assert all(rows[i][1 + j] == rows[j][1 + i] for i in range(n) for j in range(n))
    assert lines[n + 2] == "Legend:"


def test_dgx_h100_is_nv18_between_every_pair() -> None:
    assert parse_topo(_rendered("dgx-h100")).gpu_matrix() == HGX_MATRIX


def test_hgx_a100_is_nv12_between_every_pair() -> None:
    expected = [["X" if i == j else "NV12" for j in range(8)] for i in range(8)]
    assert parse_topo(_rendered("hgx-a100-80gb")).gpu_matrix() == expected


def test_l40s_4x_is_node_and_sys_as_in_the_real_l40s_capture() -> None:
    parsed = parse_topo(_rendered("l40s-4x"))
    assert parsed.gpu_matrix() == L40S_MATRIX
    assert [g.numa for g in parsed.gpus] == [0, 0, 1, 1]


def test_h100_pcie_pairs_are_nvlinked_only_within_each_pair() -> None:
    matrix = parse_topo(_rendered("h100-pcie-nvlink-pairs")).gpu_matrix()
    nvlinked = {(i, j) for i, row in enumerate(matrix) for j, cell in enumerate(row) if cell.startswith("NV")}
    assert nvlinked == {(0, 1), (1, 0), (2, 3), (3, 2)}


def test_no_driver_says_nvml_is_unavailable_in_one_line() -> None:
    text = _rendered("no-driver")
    assert text.startswith("NVML unavailable (LibraryNotFound)")
    assert text.count("\n") == 1


def test_gpu_lost_marks_the_lost_gpu_unknown_and_keeps_the_others() -> None:
    rows = [line.split() for line in _rendered("gpu-lost").splitlines()[1:9]]
    assert rows[3] == ["GPU3", "?", "?", "?", "X", "?", "?", "?", "?", "N/A"]
    assert rows[0][1:9] == ["X", "NV18", "NV18", "?", "NV18", "NV18", "NV18", "NV18"]
