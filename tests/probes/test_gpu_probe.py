"""The GPU probe through the real nvidia-ml-py binding, with the fake library answering for each machine."""

from __future__ import annotations

import re
import time
import types
from itertools import combinations
from pathlib import Path

import pytest

from nimdoctor import gpus as gpu_models
from nimdoctor.probes.gpu import partition_cliques, probe_gpu
from nimdoctor.report import GpuFacts, GpuInfo, GpuPair, NvmlError
from nimdoctor.simulation.machine import (
    FabricSpec,
    LinkSpec,
    NvlinkSpec,
    builtin_names,
    load_builtin,
)
from nimdoctor.simulation.nvml import simulated_nvml
from tests.probes.conftest import FIXTURES, Machines

MIB = 1 << 20
NVLINK_R = FIXTURES / "nvlink-R_hgx-h100-sxm_gpu0_18-links-to-4-nvswitches.txt"
TOPO_H100 = FIXTURES / "topo-m_hgx-h100-sxm-8gpu_nv18_1nic.txt"
TOPO_L40S = FIXTURES / "topo-m_4x-l40s_node-sys_2nic.txt"


def pair(facts: GpuFacts, a: int, b: int) -> GpuPair:
    return next(p for p in facts.pairs if (p.a, p.b) == (a, b))


def healthy(facts: GpuFacts) -> list[GpuInfo]:
    return [g for g in facts.gpus if not isinstance(g.error, str)]


def model_memory(name: str) -> int:
    model = gpu_models.by_name(name)
    assert model is not None
    return model.memory_mib * MIB


def nvml_error(facts: GpuFacts) -> NvmlError:
    assert isinstance(facts.nvml_error, NvmlError)
    return facts.nvml_error


def topo_matrix(path: Path, gpus: int) -> tuple[dict[tuple[int, int], str], list[int]]:
    """The GPU x GPU cells and the NUMA Affinity column of an `nvidia-smi topo -m` capture."""
    text = path.read_text()
    cells: dict[tuple[int, int], str] = {}
    numa = []
    for line in text.splitlines():
        fields = line.split()
        # Rows start GPU<n>; the header line (its leading TAB lost in the capture) starts GPU0 GPU1.
        if len(fields) < 2 or not re.fullmatch(r"GPU\d+", fields[0]) or fields[1].startswith("GPU"):
            continue
        row = int(fields[0][3:])
        for col, cell in enumerate(fields[1 : gpus + 1]):
            cells[(row, col)] = cell
        # After the GPU and NIC columns: CPU Affinity, NUMA Affinity, GPU NUMA ID.
        numa.append(int(fields[-2]))
    return cells, numa


# Every built-in machine


def test_dgx_h100_is_one_nv18_clique_with_fabric_completed(machines: Machines) -> None:
    facts, _ = machines.probe(machines.builtin("dgx-h100"))
    assert facts.gpu_count == 8
    assert len(healthy(facts)) == 8
    assert facts.nvlink.cliques == [list(range(8))]
    assert facts.nvlink.max_clique == 8
    assert facts.nvswitch_system
    assert {(p.nvlinks, p.nvlink_p2p) for p in facts.pairs} == {(18, True)}
    assert len(facts.pairs) == 28
    for gpu in facts.gpus:
        assert gpu.name == "NVIDIA H100 80GB HBM3"
        assert gpu.memory_total_bytes == model_memory("NVIDIA H100 80GB HBM3")
        assert gpu.pci_device_id == "0x233010DE"
        assert (gpu.architecture, gpu.compute_capability) == ("hopper", "9.0")
        assert gpu.virtualization_mode == "none"
        assert gpu.mig_enabled is False
        assert gpu.fabric is not None
        assert (gpu.fabric.state, gpu.fabric.status) == ("completed", "SUCCESS")
        assert len(gpu.nvlinks) == 18
        assert {(n.active, n.remote_type, n.version) for n in gpu.nvlinks} == {(True, "switch", "4.0")}
        assert gpu.unknown == {}
    assert (facts.driver_version, facts.cuda_driver_version) == ("550.54.15", "12.4")
    assert facts.nvml_version == "12.550.54.15"


def test_dgx_h100_matches_the_topo_m_capture(machines: Machines) -> None:
    """NV18 in every cell and the NUMA Affinity column of a real 8x H100 SXM `nvidia-smi topo -m`."""
    facts, _ = machines.probe(machines.builtin("dgx-h100"))
    cells, numa = topo_matrix(TOPO_H100, 8)
    for (a, b), cell in cells.items():
        if a != b:
            assert f"NV{pair(facts, min(a, b), max(a, b)).nvlinks}" == cell
    assert [g.numa_node for g in facts.gpus] == numa


def test_l40s_4x_matches_the_topo_m_capture(machines: Machines) -> None:
    facts, _ = machines.probe(machines.builtin("l40s-4x"))
    cells, numa = topo_matrix(TOPO_L40S, 4)
    for (a, b), cell in cells.items():
        if a != b:
            assert pair(facts, min(a, b), max(a, b)).pcie == cell
    assert [g.numa_node for g in facts.gpus] == numa


def test_dgx_h100_gpu0_links_end_at_the_switches_of_the_nvlink_r_capture(machines: Machines) -> None:
    text = NVLINK_R.read_text()
    header = re.match(r"GPU 0: (?P<name>.+) \(UUID: (?P<uuid>[^)]+)\)", text)
    assert header is not None
    remotes = re.findall(r"Link (\d+): Remote Device ([0-9A-F:.]+): Link \d+", text)
    facts, _ = machines.probe(machines.builtin("dgx-h100"))
    gpu0 = facts.gpus[0]
    assert (gpu0.name, gpu0.uuid) == (header["name"], header["uuid"])
    assert [(str(n.link), n.remote_bus_id) for n in gpu0.nvlinks] == remotes
    assert len(remotes) == 18


def test_hgx_a100_is_one_nv12_clique_without_fabric_info(machines: Machines) -> None:
    facts, _ = machines.probe(machines.builtin("hgx-a100-80gb"))
    assert facts.nvlink.cliques == [list(range(8))]
    assert {(p.nvlinks, p.nvlink_p2p) for p in facts.pairs} == {(12, True)}
    for gpu in facts.gpus:
        assert gpu.fabric is None
        assert gpu.unknown["fabric"].startswith("NotSupported")
        assert gpu.memory_total_bytes == model_memory("NVIDIA A100-SXM4-80GB")
        # NVML's enum value 5 on A100 is NVLink 3.1, never "5".
        assert {n.version for n in gpu.nvlinks} == {"3.1"}
        assert len(gpu.nvlinks) == 12
    assert pair(facts, 0, 1).pcie == "PXB"
    assert pair(facts, 0, 4).pcie == "SYS"


def test_h100_pcie_bridge_pairs_are_two_cliques(machines: Machines) -> None:
    facts, _ = machines.probe(machines.builtin("h100-pcie-nvlink-pairs"))
    assert facts.nvlink.cliques == [[0, 1], [2, 3]]
    assert facts.nvlink.max_clique == 2
    assert not facts.nvswitch_system
    assert (pair(facts, 0, 1).nvlinks, pair(facts, 0, 1).nvlink_p2p) == (12, True)
    across = pair(facts, 0, 2)
    assert (across.nvlinks, across.nvlink_p2p, across.pcie) == (0, False, "SYS")
    gpu0, gpu1 = facts.gpus[0], facts.gpus[1]
    assert {(n.remote_bus_id, n.remote_type) for n in gpu0.nvlinks} == {(gpu1.bus_id, "gpu")}
    assert gpu0.fabric is not None
    assert gpu0.fabric.state == "not_supported"


def test_l40s_4x_has_no_nvlink(machines: Machines) -> None:
    facts, _ = machines.probe(machines.builtin("l40s-4x"))
    assert facts.nvlink.cliques == [[0], [1], [2], [3]]
    assert facts.nvlink.max_clique == 1
    for gpu in facts.gpus:
        assert gpu.nvlinks == []
        assert gpu.unknown["nvlinks"].startswith("NotSupported")
        assert gpu.mig_enabled is None
        assert gpu.unknown["mig_enabled"].startswith("NotSupported")
    assert not any(p.nvlink_p2p for p in facts.pairs)


def test_l40s_vgpu_guest_has_profile_memory_and_no_p2p(machines: Machines) -> None:
    facts, _ = machines.probe(machines.builtin("l40s-vgpu-2x"))
    profile = gpu_models.vgpu_profile("NVIDIA L40S-48C")
    assert profile is not None
    for gpu in facts.gpus:
        assert gpu.virtualization_mode == "vgpu"
        assert gpu.name == "NVIDIA L40S-48C"
        assert gpu.memory_total_bytes == profile[2] * 1024 * MIB
        assert gpu.mig_enabled is False  # a guest shows MIG "Disabled", not N/A
    assert pair(facts, 0, 1).nvlink_p2p is False
    assert facts.nvlink.max_clique == 1


def test_h100_vgpu_guest_is_a_clique_through_hidden_switches(machines: Machines) -> None:
    facts, _ = machines.probe(machines.builtin("h100-vgpu-4x"))
    assert facts.nvlink.cliques == [[0, 1, 2, 3]]
    assert not facts.nvswitch_system  # the VM cannot tell that the far ends are switches
    assert {(p.nvlinks, p.nvlink_p2p) for p in facts.pairs} == {(18, True)}
    for gpu in facts.gpus:
        assert gpu.virtualization_mode == "vgpu"
        assert {(n.remote_bus_id, n.remote_type) for n in gpu.nvlinks} == {("FFFFFFFF:FF:FF.0", "unknown")}


def test_a100_mig_reports_mig_and_no_p2p_over_its_bridge(machines: Machines) -> None:
    facts, _ = machines.probe(machines.builtin("a100-mig"))
    assert all(g.mig_enabled and g.mig_pending for g in facts.gpus)
    assert pair(facts, 0, 1).nvlinks == 12
    assert pair(facts, 0, 1).nvlink_p2p is False
    assert facts.nvlink.cliques == [[0], [1]]


def test_no_driver_is_library_not_found(machines: Machines) -> None:
    facts, fake = machines.probe(machines.builtin("no-driver"))
    assert nvml_error(facts).code == "LibraryNotFound"
    assert nvml_error(facts).message == "NVML Shared Library Not Found"
    assert facts.gpus == []
    assert facts.nvlink.max_clique == 0
    assert facts.calls == 1
    assert fake.calls["nvmlShutdown"] == 0


def test_gpu_lost_leaves_the_others_answering(machines: Machines) -> None:
    facts, _ = machines.probe(machines.builtin("gpu-lost"))
    lost = facts.gpus[3]
    assert isinstance(lost.error, str)
    assert lost.error.startswith("GpuIsLost")
    assert [g.index for g in healthy(facts)] == [0, 1, 2, 4, 5, 6, 7]
    assert all(g.name and g.memory_total_bytes for g in healthy(facts))
    assert facts.nvlink.cliques == [[0, 1, 2, 4, 5, 6, 7]]
    assert all(3 not in (p.a, p.b) for p in facts.pairs)


def test_containerd2_variant_has_the_same_gpus_as_dgx_h100(machines: Machines) -> None:
    plain, _ = machines.probe(machines.builtin("dgx-h100"))
    variant, _ = machines.probe(machines.builtin("dgx-h100-containerd2"))
    assert variant.nvlink == plain.nvlink
    assert variant.pairs == plain.pairs


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_probes_through_simulated_nvml(name: str) -> None:
    with simulated_nvml(load_builtin(name))() as nvml:
        facts = probe_gpu(nvml)
    assert facts.calls > 0
    assert facts.duration_seconds > 0
    assert sorted(i for c in facts.nvlink.cliques for i in c) == [g.index for g in healthy(facts)]


# Failures


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("DRIVER_NOT_LOADED", "DriverNotLoaded"),
        ("NO_PERMISSION", "NoPermission"),
        ("LIB_RM_VERSION_MISMATCH", "LibRmVersionMismatch"),
    ],
)
def test_init_errors_become_nvml_error(machines: Machines, error: str, code: str) -> None:
    spec = machines.with_system(machines.builtin("dgx-h100"), init_error=error)
    facts, fake = machines.probe(spec)
    assert nvml_error(facts).code == code
    assert facts.gpus == []
    assert fake.calls["nvmlShutdown"] == 0


def test_without_memory_v2_the_probe_falls_back_to_v1(machines: Machines) -> None:
    spec = machines.with_system(machines.builtin("dgx-h100"), missing_symbols=["nvmlDeviceGetMemoryInfo_v2"])
    facts, fake = machines.probe(spec)
    gpu = facts.gpus[0]
    assert gpu.memory_total_bytes == model_memory("NVIDIA H100 80GB HBM3")
    assert gpu.memory_reserved_bytes is None
    assert gpu.unknown["memory_reserved_bytes"].startswith("FunctionNotFound")
    assert fake.calls["nvmlDeviceGetMemoryInfo"] == 8


def test_without_fabric_info_v_the_fabric_is_unknown(machines: Machines) -> None:
    spec = machines.with_system(machines.builtin("dgx-h100"), missing_symbols=["nvmlDeviceGetGpuFabricInfoV"])
    facts, _ = machines.probe(spec)
    assert all(g.fabric is None and g.unknown["fabric"].startswith("FunctionNotFound") for g in facts.gpus)
    assert facts.nvlink.max_clique == 8


def test_without_field_values_links_are_counted_by_state(machines: Machines) -> None:
    spec = machines.with_system(machines.builtin("dgx-h100"), missing_symbols=["nvmlDeviceGetFieldValues"])
    facts, fake = machines.probe(spec)
    assert [len(g.nvlinks) for g in facts.gpus] == [18] * 8
    # One probe past the last link per GPU, answered INVALID_ARGUMENT.
    assert fake.calls["nvmlDeviceGetNvLinkState"] == 8 * 19
    assert {p.nvlinks for p in facts.pairs} == {18}


def test_not_supported_and_other_errors_are_recorded_as_unknown(machines: Machines) -> None:
    spec = machines.builtin("dgx-h100")
    spec = machines.with_fault(spec, 1, function="nvmlDeviceGetCudaComputeCapability", error="NOT_SUPPORTED")
    facts, _ = machines.probe(spec)
    gpu = facts.gpus[1]
    assert gpu.compute_capability is None
    assert gpu.unknown == {"compute_capability": "NotSupported: Not Supported"}
    assert facts.gpus[0].compute_capability == "9.0"

    spec = machines.with_fault(spec, 2, function="nvmlDeviceGetName", error="UNKNOWN")
    facts, _ = machines.probe(spec)
    assert facts.gpus[2].name is None
    assert facts.gpus[2].unknown["name"].startswith("Unknown")
    assert not isinstance(facts.gpus[2].error, str)


def test_a_gpu_lost_mid_probe_keeps_what_it_said_before(machines: Machines) -> None:
    spec = machines.builtin("dgx-h100")
    spec = machines.with_fault(spec, 2, function="*", error="GPU_IS_LOST", after_calls=3)
    facts, _ = machines.probe(spec)
    gpu = facts.gpus[2]
    assert isinstance(gpu.error, str)
    assert gpu.error.startswith("GpuIsLost")
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert gpu.memory_total_bytes is None
    assert 2 not in {i for c in facts.nvlink.cliques for i in c}
    assert len(healthy(facts)) == 7


def test_fabric_not_trained_breaks_p2p_but_not_the_links(machines: Machines) -> None:
    spec = machines.with_gpu(machines.builtin("dgx-h100"), 5, fabric=FabricSpec(state="in_progress"))
    facts, _ = machines.probe(spec)
    assert facts.gpus[5].fabric is not None
    assert facts.gpus[5].fabric.state == "in_progress"
    assert facts.nvlink.cliques == [[0, 1, 2, 3, 4, 6, 7], [5]]
    assert (pair(facts, 4, 5).nvlinks, pair(facts, 4, 5).nvlink_p2p) == (18, False)


def test_non_transitive_direct_links_partition_largest_first(machines: Machines) -> None:
    """0-1 and 1-2 bridged, 0-2 not: GPU 1 joins the lowest-indexed clique, 2 stays alone."""
    base = machines.builtin("h100-pcie-nvlink-pairs")
    wiring = {0: ["gpu:1"], 1: ["gpu:0", "gpu:2"], 2: ["gpu:1"], 3: []}
    for index, remotes in wiring.items():
        links = [LinkSpec(remote=r, count=4) for r in remotes]
        base = machines.with_gpu(base, index, nvlink=NvlinkSpec(links=links) if links else None)
    facts, _ = machines.probe(base)
    assert facts.nvlink.cliques == [[0, 1], [2], [3]]
    assert pair(facts, 1, 2).nvlink_p2p
    assert not pair(facts, 0, 2).nvlink_p2p


def test_unidentified_far_ends_join_only_the_peers_they_name(machines: Machines) -> None:
    """`remote: unknown` links: P2P follows `peers`; 0-1 form a clique, 2 (naming nobody) stays alone."""
    base = machines.builtin("h100-vgpu-4x")
    for index, peers in {0: [1], 1: [0], 2: [], 3: []}.items():
        links = [LinkSpec(remote="unknown", count=18, peers=peers)] if index < 3 else []
        base = machines.with_gpu(base, index, nvlink=NvlinkSpec(links=links) if links else None)
    facts, _ = machines.probe(base)
    assert facts.nvlink.cliques == [[0, 1], [2], [3]]
    assert (pair(facts, 0, 1).nvlinks, pair(facts, 0, 1).nvlink_p2p) == (18, True)
    assert (pair(facts, 0, 2).nvlinks, pair(facts, 0, 2).nvlink_p2p) == (0, False)


def test_a_hung_call_returns_a_timeout_promptly(machines: Machines) -> None:
    spec = machines.builtin("dgx-h100")
    spec = machines.with_fault(spec, 1, function="nvmlDeviceGetMemoryInfo_v2", hang_seconds=30)
    started = time.monotonic()
    facts, fake = machines.probe(spec, deadline=0.2)
    assert time.monotonic() - started < 5
    assert nvml_error(facts).code == "Timeout"
    message = nvml_error(facts).message
    assert "nvmlDeviceGetMemoryInfo" in message
    assert "GPU 1" in message
    # Uninstalling woke the hung call; the worker then shut NVML down once, and made no other call.
    assert fake.calls["nvmlInitWithFlags"] == fake.calls["nvmlShutdown"] == 1
    assert fake.calls["nvmlDeviceGetArchitecture"] == 1


def test_a_short_hang_within_the_deadline_still_answers(machines: Machines) -> None:
    spec = machines.with_fault(machines.builtin("l40s-4x"), 0, function="nvmlDeviceGetName", hang_seconds=0.1)
    facts, _ = machines.probe(spec, deadline=5)
    assert facts.gpus[0].name == "NVIDIA L40S"
    assert facts.duration_seconds >= 0.1


@pytest.mark.parametrize("name", ["dgx-h100", "gpu-lost", "l40s-vgpu-2x"])
def test_nvml_is_initialised_and_shut_down_once(machines: Machines, name: str) -> None:
    _facts, fake = machines.probe(machines.builtin(name))
    assert fake.calls["nvmlInitWithFlags"] == 1
    assert fake.calls["nvmlShutdown"] == 1
    assert not fake.initialized


def test_the_call_count_is_every_c_call(machines: Machines) -> None:
    facts, fake = machines.probe(machines.builtin("dgx-h100"))
    assert facts.calls == sum(fake.calls.values())


def test_a_broken_binding_gives_a_probe_error_not_an_exception() -> None:
    facts = probe_gpu(types.SimpleNamespace(), deadline=2)
    assert nvml_error(facts).code == "ProbeError"


# Clique partition rule


@pytest.mark.parametrize(
    ("nodes", "edges", "cliques"),
    [
        ([], [], []),
        ([0, 1, 2], [], [[0], [1], [2]]),
        ([0, 1, 2], [(0, 1), (1, 2)], [[0, 1], [2]]),
        ([0, 1, 2, 3], [(2, 3), (0, 1)], [[0, 1], [2, 3]]),
        # The triangle 1-2-3 wins over the edge 0-1.
        ([0, 1, 2, 3], [(0, 1), (1, 2), (2, 3), (1, 3)], [[0], [1, 2, 3]]),
        ([0, 1, 2, 3], list(combinations(range(4), 2)), [[0, 1, 2, 3]]),
    ],
)
def test_partition_cliques(nodes: list[int], edges: list[tuple[int, int]], cliques: list[list[int]]) -> None:
    assert partition_cliques(nodes, edges) == cliques
