"""What `machine import` reconstructs from a topology: NVSwitch or direct NVLinks, and a PCIe/NUMA tree."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nimdoctor.simulation.machine import MachineSpec, PcieSpec, parse_machine
from nimdoctor.simulation.machine_import import UNKNOWN_GPU, import_machine
from tests.topo.captures import (
    HGX_H100,
    HGX_NUMA,
    L40S_4X,
    L40S_MATRIX,
    L40S_NUMA,
    TOPO_CAPTURES,
    as_spaces,
    as_tabs,
    capture,
    topo_text,
    with_crlf,
    with_header_tab,
    without_legend,
    without_nic_rows,
    without_nics,
)


def level(a: PcieSpec, b: PcieSpec) -> str:
    """The relation `PcieSpec`'s docstring defines, written out here as the test's own oracle."""
    if a.numa != b.numa:
        return "SYS"
    if a.root_complex != b.root_complex:
        return "NODE"
    if a.switches[-1:] == b.switches[-1:] and a.switches:
        return "PIX"
    return "PXB" if set(a.switches) & set(b.switches) else "PHB"


def pcie_matrix(spec: MachineSpec) -> list[list[str]]:
    return [["X" if a is b else level(a.pcie, b.pcie) for b in spec.gpus] for a in spec.gpus]


def test_hgx_h100_becomes_an_nvswitch_system_with_18_links_per_gpu() -> None:
    spec = import_machine(capture(HGX_H100)).spec
    assert len(spec.gpus) == 8
    assert len(spec.nvswitches) == 4
    switches = {f"switch:{s.bus_id}" for s in spec.nvswitches}
    for gpu in spec.gpus:
        assert gpu.nvlink is not None
        assert sum(link.count for link in gpu.nvlink.links) == 18
        assert {link.remote for link in gpu.nvlink.links} == switches
        assert all(link.active for link in gpu.nvlink.links)


def test_hgx_nvlink_pairs_get_node_or_sys_from_numa() -> None:
    spec = import_machine(capture(HGX_H100)).spec
    assert [g.pcie.numa for g in spec.gpus] == HGX_NUMA
    expected = [
        ["X" if i == j else "NODE" if HGX_NUMA[i] == HGX_NUMA[j] else "SYS" for j in range(8)]
        for i in range(8)
    ]
    assert pcie_matrix(spec) == expected


def test_hgx_import_says_the_pcie_path_was_derived() -> None:
    notes = " ".join(import_machine(capture(HGX_H100)).notes)
    assert "hides the PCIe path" in notes
    assert "NVSwitch" in notes


def test_l40s_box_has_no_nvlink_and_reproduces_node_and_sys() -> None:
    spec = import_machine(capture(L40S_4X)).spec
    assert all(g.nvlink is None for g in spec.gpus)
    assert spec.nvswitches == []
    assert [g.pcie.numa for g in spec.gpus] == L40S_NUMA
    assert pcie_matrix(spec) == L40S_MATRIX


@pytest.mark.parametrize(
    "variant",
    [as_spaces, as_tabs, with_header_tab, without_legend, without_nic_rows, without_nics, with_crlf],
)
@pytest.mark.parametrize("name", TOPO_CAPTURES)
def test_whitespace_legend_and_nic_variants_import_identically(
    name: str, variant: Callable[[str], str]
) -> None:
    assert import_machine(variant(capture(name))).spec == import_machine(capture(name)).spec


def test_topology_alone_gives_gpus_of_unknown_model() -> None:
    imported = import_machine(capture(L40S_4X))
    for gpu in imported.spec.gpus:
        assert gpu.name == UNKNOWN_GPU
        assert gpu.memory is None
        assert gpu.compute_capability is None
    assert "unknown GPU" in imported.spec.metadata.description
    assert any("memory and compute capability are null" in note for note in imported.notes)


def test_direct_nvlink_pairs_link_peer_to_peer() -> None:
    # Two bridged pairs (0-1, 2-3), PCIe between the pairs: an H100 PCIe / NVL box.
    cells = [
        ["X", "NV12", "SYS", "SYS"],
        ["NV12", "X", "SYS", "SYS"],
        ["SYS", "SYS", "X", "NV12"],
        ["SYS", "SYS", "NV12", "X"],
    ]
    spec = import_machine(topo_text(cells, [0, 0, 1, 1]), gpu_name="NVIDIA H100 NVL").spec
    assert spec.nvswitches == []
    peers = [[(link.remote, link.count) for link in g.nvlink.links] if g.nvlink else [] for g in spec.gpus]
    assert peers == [[("gpu:1", 12)], [("gpu:0", 12)], [("gpu:3", 12)], [("gpu:2", 12)]]
    assert pcie_matrix(spec)[0] == ["X", "NODE", "SYS", "SYS"]


@pytest.mark.parametrize(
    "cells",
    [
        # all pairs, but only 3 GPUs
        [["X", "NV4", "NV4"], ["NV4", "X", "NV4"], ["NV4", "NV4", "X"]],
        # all pairs of 4, unequal counts (a DGX-1 style hybrid cube mesh)
        [
            ["X", "NV1", "NV1", "NV2"],
            ["NV1", "X", "NV2", "NV1"],
            ["NV1", "NV2", "X", "NV2"],
            ["NV2", "NV1", "NV2", "X"],
        ],
    ],
)
def test_nvlink_meshes_that_are_not_switches_stay_direct(cells: list[list[str]]) -> None:
    spec = import_machine(topo_text(cells, [0] * len(cells))).spec
    assert spec.nvswitches == []
    for i, gpu in enumerate(spec.gpus):
        assert gpu.nvlink is not None
        counts = {int(link.remote.removeprefix("gpu:")): link.count for link in gpu.nvlink.links}
        assert counts == {j: int(c[2:]) for j, c in enumerate(cells[i]) if c != "X"}


def test_two_nvswitch_partitions_get_their_own_switches() -> None:
    n = 8
    cells = [["X" if i == j else "NV12" if i // 4 == j // 4 else "SYS" for j in range(n)] for i in range(n)]
    spec = import_machine(topo_text(cells, [i // 4 for i in range(n)])).spec
    assert len(spec.nvswitches) == 12  # 6 per partition, as on a DGX A100
    remotes = [{link.remote for link in g.nvlink.links} if g.nvlink else set() for g in spec.gpus]
    assert remotes[0] == remotes[3]
    assert not remotes[0] & remotes[4]
    assert Counter(sum(link.count for link in g.nvlink.links) for g in spec.gpus if g.nvlink) == {12: 8}


def test_pix_pxb_phb_reproduce_a_pcie_tree() -> None:
    cells = [
        ["X", "PIX", "PXB", "PHB", "SYS"],
        ["PIX", "X", "PXB", "PHB", "SYS"],
        ["PXB", "PXB", "X", "PHB", "SYS"],
        ["PHB", "PHB", "PHB", "X", "SYS"],
        ["SYS", "SYS", "SYS", "SYS", "X"],
    ]
    spec = import_machine(topo_text(cells, [0, 0, 0, 0, 1])).spec
    assert pcie_matrix(spec) == cells


def test_nvlink_pair_inside_a_pcie_switch_is_placed_by_its_neighbours() -> None:
    # 0-1 are bridged; both sit under the same switch as 2 (PIX): their hidden PCIe path is PIX too.
    cells = [["X", "NV12", "PIX"], ["NV12", "X", "PIX"], ["PIX", "PIX", "X"]]
    spec = import_machine(topo_text(cells, [0, 0, 0])).spec
    assert pcie_matrix(spec)[0] == ["X", "PIX", "PIX"]


def test_without_numa_affinity_numa_nodes_come_from_the_matrix() -> None:
    imported = import_machine(topo_text(L40S_MATRIX))
    assert [g.pcie.numa for g in imported.spec.gpus] == [0, 0, 1, 1]
    assert any("NUMA Affinity not given" in note for note in imported.notes)


@st.composite
def pcie_trees(draw: st.DrawFn) -> list[PcieSpec]:
    """Random placements: NUMA node, root complex on it, and an optional two-level switch chain."""
    specs = []
    for _ in range(draw(st.integers(2, 8))):
        numa = draw(st.integers(0, 2))
        root = draw(st.integers(0, 2))
        chain = [f"t{numa}.{root}.{draw(st.integers(0, 2))}"]
        leaf = draw(st.sampled_from([None, 0, 1]))
        specs.append(
            PcieSpec(
                numa=numa,
                root_complex=numa * 10 + root,
                switches=chain if leaf is None else [*chain, f"{chain[0]}.{leaf}"],
            )
        )
    return specs


@given(pcie_trees(), st.booleans())
def test_any_pcie_tree_is_reproduced(tree: list[PcieSpec], with_numa: bool) -> None:
    cells = [["X" if i == j else level(a, b) for j, b in enumerate(tree)] for i, a in enumerate(tree)]
    numa: list[int | None] | None = [p.numa for p in tree] if with_numa else None
    spec = import_machine(topo_text(cells, numa)).spec
    assert pcie_matrix(spec) == cells
    if with_numa:
        assert [g.pcie.numa for g in spec.gpus] == numa


@pytest.mark.parametrize("name", TOPO_CAPTURES)
def test_yaml_output_parses_back_to_the_same_description(name: str) -> None:
    imported = import_machine(capture(name), gpu_name="NVIDIA L40S" if name == L40S_4X else None, name="box")
    text = imported.to_yaml()
    assert text.startswith("# Imported by `nimdoctor machine import`")
    assert parse_machine(text, "imported").spec == imported.spec


def test_import_is_deterministic() -> None:
    assert import_machine(capture(HGX_H100)).to_yaml() == import_machine(capture(HGX_H100)).to_yaml()
