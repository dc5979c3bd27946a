"""Node capabilities of the simulated machines, written out by hand so placement tests need no simulator.

Memory is what NVML reports, in MiB (H100 80GB 81559, A100 80GB 81920, L40S 46068; a vGPU guest sees its
profile size). containerd's open-file limit is 1048576 (LimitNOFILE=infinity under containerd 1.x) except on
dgx-h100-containerd2, where containerd 2.x sets none and containers get systemd's 1024.
"""

from __future__ import annotations

from typing import Any

import msgspec

from nimdoctor.report import Capabilities, MigSlice

MIB = 2**20
GOOD_NOFILE = 1048576


def node(**changes: Any) -> Capabilities:
    """A ready 8x H100 SXM node (dgx-h100) with `changes` applied."""
    base = Capabilities(
        ready=True,
        nofile_soft=GOOD_NOFILE,
        nofile_unlimited=False,
        gpu_product="H100-SXM",
        gpu_count=8,
        gpu_memory_bytes=81559 * MIB,
        max_nvlink_clique=8,
        virtualization="none",
        mig_enabled=False,
        compute_capability="9.0",
        driver_version="550.54.15",
    )
    return msgspec.structs.replace(base, **changes)


DGX_H100 = node()
HGX_A100_80GB = node(gpu_product="A100-SXM", gpu_memory_bytes=81920 * MIB, compute_capability="8.0")
H100_PCIE_NVLINK_PAIRS = node(gpu_product="H100-PCIE", gpu_count=4, max_nvlink_clique=2)
L40S_4X = node(
    gpu_product="L40S",
    gpu_count=4,
    gpu_memory_bytes=46068 * MIB,
    max_nvlink_clique=1,
    compute_capability="8.9",
)
L40S_VGPU_2X = node(
    gpu_product="L40S",
    gpu_count=2,
    gpu_memory_bytes=49152 * MIB,
    max_nvlink_clique=1,
    virtualization="vgpu",
    compute_capability="8.9",
)
H100_VGPU_4X = node(gpu_count=4, gpu_memory_bytes=81920 * MIB, max_nvlink_clique=4, virtualization="vgpu")
# Two A100 80GB, each in the GPU Operator's all-balanced layout; MIG memory as NVIDIA's go-nvml mock has it.
A100_MIG = node(
    gpu_product="A100-PCIE",
    gpu_count=2,
    gpu_memory_bytes=81920 * MIB,
    max_nvlink_clique=1,
    compute_capability="8.0",
    mig_enabled=True,
    mig_slices=(
        MigSlice(profile="1g.10gb", memory_bytes=9856 * MIB, count=4),
        MigSlice(profile="2g.20gb", memory_bytes=19968 * MIB, count=2),
        MigSlice(profile="3g.40gb", memory_bytes=40192 * MIB, count=2),
    ),
)
DGX_H100_CONTAINERD2 = node(nofile_soft=1024)

MACHINES: dict[str, Capabilities] = {
    "dgx-h100": DGX_H100,
    "hgx-a100-80gb": HGX_A100_80GB,
    "h100-pcie-nvlink-pairs": H100_PCIE_NVLINK_PAIRS,
    "l40s-4x": L40S_4X,
    "l40s-vgpu-2x": L40S_VGPU_2X,
    "h100-vgpu-4x": H100_VGPU_4X,
    "a100-mig": A100_MIG,
    "dgx-h100-containerd2": DGX_H100_CONTAINERD2,
}
