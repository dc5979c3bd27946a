"""Properties over random machine descriptions: the fake never contradicts itself, and the probe's cliques
agree with what NVML says about P2P."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import msgspec
import pynvml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nimdoctor.simulation.fakenvml import UNIDENTIFIED_BUS_ID, build_topology, installed
from nimdoctor.simulation.machine import MachineSpec, validate_machine
from tests.probes.conftest import Machines

NVLINK = pynvml.NVML_P2P_CAPS_INDEX_NVLINK
P2P_INDICES = (0, pynvml.NVML_P2P_CAPS_INDEX_WRITE, NVLINK, pynvml.NVML_P2P_CAPS_INDEX_ATOMICS, 4)
GPU_MODELS = [
    ("NVIDIA H100 80GB HBM3", 0x233010DE, "hopper", "9.0", "4.0"),
    ("NVIDIA A100-SXM4-80GB", 0x20B210DE, "ampere", "8.0", "3.1"),
]


mostly = st.integers(0, 4).map(bool)  # true four times in five


@st.composite
def machine_specs(draw: st.DrawFn) -> MachineSpec:
    """A random node: direct links, NVSwitches (some hidden), unidentified far ends, fabric, MIG, PCIe."""
    count = draw(st.integers(1, 6))
    name, device_id, arch, cc, version = draw(st.sampled_from(GPU_MODELS))
    nvlink = [draw(mostly) for _ in range(count)]
    switches = [draw(st.booleans()) for _ in range(draw(st.integers(0, 3)))]  # visible?
    links: list[list[dict[str, Any]]] = [[] for _ in range(count)]
    for a, b in combinations(range(count), 2):
        width = draw(st.integers(0, 3)) if nvlink[a] and nvlink[b] else 0
        if width:
            active = draw(mostly)  # a bridge is up or down at both ends
            links[a].append({"remote": f"gpu:{b}", "count": width, "active": active})
            links[b].append({"remote": f"gpu:{a}", "count": width, "active": active})
    for index in (i for i in range(count) if nvlink[i]):
        for number in range(len(switches)):
            width = draw(st.integers(0, 3))
            if width:
                remote = f"switch:{switch_bus_id(number)}"
                links[index].append({"remote": remote, "count": width, "active": draw(mostly)})
        if draw(st.booleans()):
            others = [i for i in range(count) if i != index and nvlink[i]]
            peers = draw(st.lists(st.sampled_from(others), unique=True)) if others else []
            links[index].append({"remote": "unknown", "peers": peers, "active": draw(mostly)})
    gpus = []
    for index in range(count):
        order = draw(st.permutations(links[index]))
        gpu: dict[str, Any] = {
            "index": index,
            "name": name,
            "uuid": f"GPU-{index:08x}-0000-0000-0000-000000000000",
            "busId": f"00000000:{0x10 + index:02X}:00.0",
            "pciDeviceId": device_id,
            "architecture": arch,
            "computeCapability": cc,
            "memory": {"totalMib": 81920},
            "mig": {"current": draw(st.integers(0, 9)) == 0},
            "pcie": {
                "numa": draw(st.integers(0, 1)),
                "rootComplex": draw(st.integers(0, 2)),
                "switches": draw(st.sampled_from([[], ["sw0"], ["sw0", "sw0a"], ["sw0", "sw0b"], ["sw1"]])),
            },
        }
        if nvlink[index]:
            gpu["nvlink"] = {"version": version, "links": list(order)}
        if arch == "hopper" and draw(st.booleans()):
            gpu["fabric"] = {"state": draw(st.sampled_from(["completed", "completed", "in_progress"]))}
        gpus.append(gpu)
    raw = {
        "apiVersion": "nimdoctor.io/v1alpha1",
        "kind": "Machine",
        "metadata": {"name": "random"},
        "virtualization": draw(st.sampled_from(["none", "none", "vgpu"])),
        "nvswitches": [{"busId": switch_bus_id(n), "visible": v} for n, v in enumerate(switches)],
        "gpus": gpus,
    }
    spec = msgspec.convert(raw, MachineSpec)
    validate_machine(spec, "random")
    return spec


def switch_bus_id(number: int) -> str:
    return f"00000000:{0xA0 + number:02X}:00.0"


def p2p(a: int, b: int, index: int = NVLINK) -> int:
    handle_a, handle_b = pynvml.nvmlDeviceGetHandleByIndex(a), pynvml.nvmlDeviceGetHandleByIndex(b)
    return int(pynvml.nvmlDeviceGetP2PStatus(handle_a, handle_b, index))


def links_of(index: int) -> list[tuple[bool, str | None, int | None]]:
    """(active, remote bus id, remote type) per link, counted with GetNvLinkState up to INVALID_ARGUMENT."""
    h = pynvml.nvmlDeviceGetHandleByIndex(index)
    out = []
    for link in range(pynvml.NVML_NVLINK_MAX_LINKS):
        try:
            state = pynvml.nvmlDeviceGetNvLinkState(h, link)
        except pynvml.NVMLError_InvalidArgument:
            break
        except pynvml.NVMLError_NotSupported:
            assert link == 0
            break
        assert state in (pynvml.NVML_FEATURE_DISABLED, pynvml.NVML_FEATURE_ENABLED)
        remote = pynvml.nvmlDeviceGetNvLinkRemotePciInfo(h, link).busId
        kind = pynvml.nvmlDeviceGetNvLinkRemoteDeviceType(h, link)
        out.append((state == pynvml.NVML_FEATURE_ENABLED, remote, kind))
    return out


def largest_clique(count: int, connected: set[tuple[int, int]]) -> int:
    """By brute force: the size of the largest group of GPUs pairwise P2P-connected over NVLink."""
    sizes = [
        size
        for size in range(1, count + 1)
        for group in combinations(range(count), size)
        if all(pair in connected for pair in combinations(group, 2))
    ]
    return max(sizes, default=0)


PROPERTIES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTIES
@given(spec=machine_specs())
def test_the_fake_never_contradicts_itself(spec: MachineSpec) -> None:
    with installed(spec):
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        assert count == len(spec.gpus)
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        bus_ids = [pynvml.nvmlDeviceGetPciInfo(h).busId for h in handles]
        described = {switch_bus_id(n): s.visible for n, s in enumerate(spec.nvswitches)}
        for gpu in spec.gpus:
            h = pynvml.nvmlDeviceGetHandleByIndex(gpu.index)
            links = links_of(gpu.index)
            entries = gpu.nvlink.links if gpu.nvlink else []
            expanded = [entry for entry in entries for _ in range(entry.count)]
            # Link active <=> state enabled, in link-index order.
            assert [active for active, _, _ in links] == [entry.active for entry in expanded]
            for (_, remote, kind), entry in zip(links, expanded, strict=True):
                target = entry.remote.partition(":")[2]
                if entry.remote.startswith("gpu:"):
                    assert (remote, kind) == (bus_ids[int(target)], pynvml.NVML_NVLINK_DEVICE_TYPE_GPU)
                elif entry.remote.startswith("switch:") and described[target]:
                    assert (remote, kind) == (target, pynvml.NVML_NVLINK_DEVICE_TYPE_SWITCH)
                else:
                    assert (remote, kind) == (UNIDENTIFIED_BUS_ID, pynvml.NVML_NVLINK_DEVICE_TYPE_UNKNOWN)
            if links:
                ids = [pynvml.NVML_FI_DEV_NVLINK_LINK_COUNT, pynvml.NVML_FI_DEV_NVSWITCH_CONNECTED_LINK_COUNT]
                values = pynvml.nvmlDeviceGetFieldValues(h, ids)
                switch_links = sum(
                    1 for active, _, kind in links if active and kind == pynvml.NVML_NVLINK_DEVICE_TYPE_SWITCH
                )
                assert [v.value.uiVal for v in values] == [len(links), switch_links]
        for a, b in combinations(range(count), 2):
            for index in P2P_INDICES:
                assert p2p(a, b, index) == p2p(b, a, index)
            ha, hb = pynvml.nvmlDeviceGetHandleByIndex(a), pynvml.nvmlDeviceGetHandleByIndex(b)
            ancestor = pynvml.nvmlDeviceGetTopologyCommonAncestor
            assert ancestor(ha, hb) == ancestor(hb, ha)
            if p2p(a, b) == pynvml.NVML_P2P_STATUS_OK:
                # NVLink P2P needs NVLinks up at both ends, and then also allows reads and writes.
                assert any(active for active, _, _ in links_of(a))
                assert any(active for active, _, _ in links_of(b))
                assert p2p(a, b, 0) == p2p(a, b, 1) == pynvml.NVML_P2P_STATUS_OK
        pynvml.nvmlShutdown()


@PROPERTIES
@given(spec=machine_specs())
def test_cliques_agree_with_p2p(machines: Machines, spec: MachineSpec) -> None:
    facts, _ = machines.probe(spec)
    with installed(spec):
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        connected = {
            (a, b) for a, b in combinations(range(count), 2) if p2p(a, b) == pynvml.NVML_P2P_STATUS_OK
        }
        pynvml.nvmlShutdown()
    members = [i for clique in facts.nvlink.cliques for i in clique]
    # A partition of the GPUs: none left out, none in two cliques.
    assert sorted(members) == list(range(count))
    for clique in facts.nvlink.cliques:
        assert all(pair in connected for pair in combinations(clique, 2))
    assert facts.nvlink.max_clique == largest_clique(count, connected) == max(map(len, facts.nvlink.cliques))
    physical = build_topology(spec).nvlink_count
    hidden = {g.index for g in facts.gpus if any(link.remote_type == "unknown" for link in g.nvlinks)}
    for pair in facts.pairs:
        assert pair.nvlink_p2p == ((pair.a, pair.b) in connected)
        # The probe's NV# never exceeds the wiring, and equals it whenever NVML can see every far end or
        # the pair talks through the fabric alone.
        assert pair.nvlinks <= physical[pair.a][pair.b]
        direct = any(link.remote_bus_id == facts.gpus[pair.b].bus_id for link in facts.gpus[pair.a].nvlinks)
        if not {pair.a, pair.b} & hidden or (pair.nvlink_p2p and not direct):
            assert pair.nvlinks == physical[pair.a][pair.b]
