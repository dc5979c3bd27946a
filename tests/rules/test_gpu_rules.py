"""Rules NIM-GPU-001..010 on GPU facts (the probe's output), built here case by case."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.report import (
    FabricFacts,
    Facts,
    Finding,
    GpuFacts,
    GpuInfo,
    NodeFacts,
    NvlinkFacts,
    NvlinkTopology,
    NvmlError,
    Status,
)
from nimdoctor.rules.registry import RULES

H100 = "NVIDIA H100 80GB HBM3"


def judge(check_id: str, facts: Facts, catalog: Catalog) -> Finding:
    result: Finding = RULES[check_id].fn(facts, catalog.get(check_id))
    return result


def gpu(index: int, **kw: Any) -> GpuInfo:
    base: dict[str, Any] = {
        "name": H100,
        "bus_id": f"00000000:{0x18 + index:02X}:00.0",
        "compute_capability": "9.0",
        "virtualization_mode": "none",
        "mig_enabled": False,
        "mig_pending": False,
        "nvlinks": [NvlinkFacts(link=i, active=True, remote_type="switch") for i in range(18)],
        "fabric": FabricFacts(state="completed", status="SUCCESS"),
    }
    base.update(kw)
    return GpuInfo(index=index, **base)


def node(gpus: list[GpuInfo], clique: int = 8, labels: dict[str, str] | None = None, **kw: Any) -> Facts:
    facts = GpuFacts(
        driver_version=kw.pop("driver", "550.54.15"),
        nvml_version="12.550.54.15",
        gpu_count=len(gpus),
        gpus=gpus,
        nvlink=NvlinkTopology(cliques=[[g.index for g in gpus]] if clique > 1 else [], max_clique=clique),
        nvswitch_system=kw.pop("nvswitch", True),
        **kw,
    )
    return Facts(gpu=facts, node=NodeFacts(labels=labels) if labels is not None else msgspec.UNSET)


def dgx(**kw: Any) -> Facts:
    return node([gpu(i) for i in range(8)], **kw)


def test_healthy_dgx_passes_every_gpu_check(catalog: Catalog) -> None:
    facts = dgx(labels={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"})
    for check_id in sorted(i for i in RULES if i.startswith("NIM-GPU")):
        f = judge(check_id, facts, catalog)
        assert f.status in (Status.PASS, Status.SKIP), (check_id, f.message)
    assert judge("NIM-GPU-005", facts, catalog).status is Status.PASS
    assert judge("NIM-GPU-006", facts, catalog).status is Status.SKIP  # not a vGPU guest


@pytest.mark.parametrize(
    ("code", "needle", "status"),
    [
        ("LibraryNotFound", "runtimeClassName: nvidia", Status.FAIL),
        ("DriverNotLoaded", "lsmod", Status.FAIL),
        ("NoPermission", "/dev/nvidia", Status.FAIL),
        ("LibRmVersionMismatch", "reboot", Status.FAIL),
        ("Timeout", "Xid 79", Status.ERROR),
        ("Unknown", "nvidia-smi", Status.FAIL),
    ],
)
def test_nvml_failure_names_its_cause(catalog: Catalog, code: str, needle: str, status: Status) -> None:
    facts = Facts(gpu=GpuFacts(nvml_error=NvmlError(code=code, message="boom")))
    f = judge("NIM-GPU-001", facts, catalog)
    assert f.status is status
    assert f.fix is not None
    assert needle in f.fix
    for other in ("NIM-GPU-002", "NIM-GPU-003", "NIM-GPU-005", "NIM-GPU-008", "NIM-GPU-009"):
        assert judge(other, facts, catalog).status is Status.SKIP


def test_remedies_differ_per_cause(catalog: Catalog) -> None:
    fixes = {
        judge("NIM-GPU-001", Facts(gpu=GpuFacts(nvml_error=NvmlError(code=c, message="x"))), catalog).fix
        for c in ("LibraryNotFound", "DriverNotLoaded", "NoPermission", "LibRmVersionMismatch")
    }
    assert len(fixes) == 4


def test_no_gpus_listed_fails(catalog: Catalog) -> None:
    f = judge("NIM-GPU-001", Facts(gpu=GpuFacts(gpu_count=0)), catalog)
    assert f.status is Status.FAIL
    assert f.fix is not None
    assert "nvidia.com/gpu" in f.fix


def test_lost_gpu_fails_and_names_it(catalog: Catalog) -> None:
    gpus = [gpu(i) for i in range(4)]
    gpus[3] = GpuInfo(index=3, bus_id="00000000:1B:00.0", error="GpuIsLost: GPU is lost")
    facts = node(gpus, clique=3)
    f = judge("NIM-GPU-003", facts, catalog)
    assert f.status is Status.FAIL
    assert "GPU 3" in f.message
    assert f.fix is not None
    assert "GPU(s) 3 did not answer" in f.fix
    # The others still answer, so the remaining checks judge them.
    assert judge("NIM-GPU-002", facts, catalog).status is Status.PASS
    assert judge("NIM-GPU-001", facts, catalog).status is Status.PASS


def test_mixed_models_fail(catalog: Catalog) -> None:
    f = judge("NIM-GPU-002", node([gpu(0), gpu(1, name="NVIDIA H100 PCIe")]), catalog)
    assert f.status is Status.FAIL
    assert "NVIDIA H100 PCIe (GPU 1)" in f.message


def test_some_links_down_is_degraded(catalog: Catalog) -> None:
    links = [NvlinkFacts(link=i, active=i not in (4, 9)) for i in range(18)]
    f = judge("NIM-GPU-004", node([gpu(0), gpu(1, nvlinks=links)]), catalog)
    assert f.status is Status.FAIL
    assert "GPU 1: link(s) 4, 9" in f.message


def test_all_links_down_is_not_degraded_but_unbridged(catalog: Catalog) -> None:
    links = [NvlinkFacts(link=i, active=False) for i in range(12)]
    facts = node([gpu(0, nvlinks=links), gpu(1, nvlinks=links)], clique=1)
    assert judge("NIM-GPU-004", facts, catalog).status is Status.PASS


def test_fabric_not_trained_fails(catalog: Catalog) -> None:
    gpus = [gpu(i) for i in range(8)]
    gpus[2] = gpu(2, fabric=FabricFacts(state="in_progress", status="NOT_READY"))
    f = judge("NIM-GPU-005", node(gpus), catalog)
    assert f.status is Status.FAIL
    assert "GPU 2 in_progress/NOT_READY" in f.message
    assert f.fix is not None
    assert "nvidia-fabricmanager" in f.fix


def test_fabric_is_skipped_without_switches_or_state(catalog: Catalog) -> None:
    a100 = [gpu(i, fabric=None) for i in range(8)]
    assert judge("NIM-GPU-005", node(a100), catalog).status is Status.SKIP
    l40s = [gpu(i, fabric=None, nvlinks=[]) for i in range(4)]
    assert judge("NIM-GPU-005", node(l40s, clique=1, nvswitch=False), catalog).status is Status.SKIP


def test_vgpu_without_p2p_cannot_serve_multi_gpu_models(catalog: Catalog) -> None:
    guests = [
        gpu(i, name="NVIDIA L40S-48C", virtualization_mode="vgpu", nvlinks=[], fabric=None) for i in range(2)
    ]
    f = judge("NIM-GPU-006", node(guests, clique=1, nvswitch=False), catalog)
    assert f.status is Status.FAIL
    assert "multi-GPU models cannot run here" in f.message
    assert f.fix is not None
    for option in ("passthrough", "NVLink-connected A100/H100", "a model small enough"):
        assert option in f.fix


def test_vgpu_with_nvlink_p2p_passes(catalog: Catalog) -> None:
    guests = [gpu(i, name="NVIDIA H100XM-80C", virtualization_mode="vgpu") for i in range(4)]
    assert judge("NIM-GPU-006", node(guests, clique=4), catalog).status is Status.PASS


def test_mig_enabled_warns_and_pending_fails(catalog: Catalog) -> None:
    on = node([gpu(0, mig_enabled=True, mig_pending=True)])
    assert judge("NIM-GPU-007", on, catalog).status is Status.WARN
    pending = node([gpu(0, mig_enabled=False, mig_pending=True)])
    f = judge("NIM-GPU-007", pending, catalog)
    assert f.status is Status.FAIL
    assert "pending" in f.message


def test_volta_is_too_old(catalog: Catalog) -> None:
    f = judge("NIM-GPU-008", node([gpu(0, compute_capability="7.0")]), catalog)
    assert f.status is Status.FAIL
    assert judge("NIM-GPU-008", node([gpu(0, compute_capability="7.5")]), catalog).status is Status.PASS


@pytest.mark.parametrize(("driver", "status"), [("535.86.10", Status.PASS), ("535.54.03", Status.FAIL)])
def test_driver_minimum(catalog: Catalog, driver: str, status: Status) -> None:
    assert judge("NIM-GPU-009", dgx(driver=driver), catalog).status is status


@pytest.mark.parametrize(
    ("labels", "status"),
    [
        ({"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3-SHARED"}, Status.FAIL),
        ({"nvidia.com/gpu.sharing-strategy": "time-slicing"}, Status.FAIL),
        ({"nvidia.com/gpu.sharing-strategy": "none", "nvidia.com/gpu.product": "NVIDIA-L40S"}, Status.PASS),
    ],
)
def test_sharing_labels(catalog: Catalog, labels: dict[str, str], status: Status) -> None:
    assert judge("NIM-GPU-010", dgx(labels=labels), catalog).status is status


def test_sharing_is_skipped_without_labels(catalog: Catalog) -> None:
    assert judge("NIM-GPU-010", dgx(), catalog).status is Status.SKIP
