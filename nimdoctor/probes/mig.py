"""MIG profile names, as GPU Feature Discovery and the device plugin derive them from NVML.

A MIG device's profile reads `<g>g.<gb>gb` (`3g.40gb`), or `<c>c.<g>g.<gb>gb` when its compute instance
has fewer slices than its GPU instance. `<g>` and `<c>` are the instances' slice counts
(`nvmlDeviceGetAttributes`: gpuInstanceSliceCount, computeInstanceSliceCount); `<gb>` rounds the device's
share of the GPU's memory up to eighths, times the GPU's memory in whole GiB rounded up
(NVIDIA/go-nvlib `pkg/nvlib/device/mig_profile.go`, getMigMemorySizeGB): 9984 of 81559 MiB on an H100 is
`10gb`. The media-extension variants (`+me`) are not told apart: NVML's device attributes do not say.
"""

from __future__ import annotations

import math
import re

MIB = 2**20
GIB = 2**30
_PROFILE = re.compile(r"^(?:(?P<c>\d+)c\.)?(?P<g>\d+)g\.(?P<gb>\d+)gb$")


def memory_gb(total_bytes: int, memory_mib: int) -> int:
    """The `<gb>` of a MIG device of `memory_mib` on a GPU of `total_bytes` (go-nvlib's rounding)."""
    fraction = math.ceil(memory_mib * MIB / total_bytes * 8) / 8
    total_gb = (total_bytes + GIB - 1) // GIB
    return round(fraction * total_gb)


def profile_name(gpu_slices: int, compute_slices: int, memory_mib: int, total_bytes: int) -> str:
    """The profile name of a MIG device, e.g. `3g.40gb` or `1c.3g.40gb`."""
    gb = memory_gb(total_bytes, memory_mib)
    prefix = "" if compute_slices == gpu_slices else f"{compute_slices}c."
    return f"{prefix}{gpu_slices}g.{gb}gb"


def parse_profile(name: str) -> tuple[int, int, int] | None:
    """(compute slices, GPU slices, GB) of a profile name; None when it is not one."""
    match = _PROFILE.match(name.strip())
    if match is None:
        return None
    gpu_slices = int(match.group("g"))
    compute = int(match.group("c")) if match.group("c") else gpu_slices
    return compute, gpu_slices, int(match.group("gb"))
