"""What nimdoctor knows about GPU models: names as NVML reports them, family and variant, memory, ids.

Used to normalise a GPU's name into the product that placement compares (a vGPU `NVIDIA L40S-48C` is an
L40S), to fill in memory when a machine is imported from a product name alone, and by the built-in machines.
Memory totals are what NVML reports, in MiB (sources: NVIDIA/nccl#1264 and GFD labels for H100 81559;
public nvidia-smi captures for H200 143771, L40S 46068, A100 80GB 81920, H100 NVL 95830). PCI device ids
come from NVIDIA/open-gpu-kernel-modules' "Compatible GPUs" table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuModel:
    """A GPU model: NVML name, normalised family/variant, memory, PCI device id, architecture, CC."""

    name: str
    family: str
    variant: str
    memory_mib: int
    device_id: int  # upper 16 bits of pciDeviceId
    architecture: str
    compute_capability: str
    nvlinks: int  # NVLink ports per GPU (0: none)

    @property
    def product(self) -> str:
        """Normalised product, e.g. `H100-SXM`, `L40S`."""
        return f"{self.family}-{self.variant}" if self.variant else self.family

    @property
    def pci_device_id(self) -> int:
        """`pciDeviceId` as NVML reports it (device id in the upper half, NVIDIA's vendor id below)."""
        return (self.device_id << 16) | 0x10DE


KNOWN: tuple[GpuModel, ...] = (
    GpuModel("NVIDIA H100 80GB HBM3", "H100", "SXM", 81559, 0x2330, "hopper", "9.0", 18),
    GpuModel("NVIDIA H100 PCIe", "H100", "PCIE", 81559, 0x2331, "hopper", "9.0", 12),
    GpuModel("NVIDIA H100 NVL", "H100", "NVL", 95830, 0x2321, "hopper", "9.0", 12),
    GpuModel("NVIDIA H200", "H200", "SXM", 143771, 0x2335, "hopper", "9.0", 18),
    GpuModel("NVIDIA GH200 480GB", "GH200", "", 97871, 0x2342, "hopper", "9.0", 18),
    GpuModel("NVIDIA B200", "B200", "SXM", 183359, 0x2901, "blackwell", "10.0", 18),
    GpuModel("NVIDIA A100-SXM4-80GB", "A100", "SXM", 81920, 0x20B2, "ampere", "8.0", 12),
    GpuModel("NVIDIA A100-SXM4-40GB", "A100", "SXM", 40960, 0x20B0, "ampere", "8.0", 12),
    GpuModel("NVIDIA A100 80GB PCIe", "A100", "PCIE", 81920, 0x20B5, "ampere", "8.0", 12),
    GpuModel("NVIDIA A100-PCIE-40GB", "A100", "PCIE", 40960, 0x20F1, "ampere", "8.0", 12),
    GpuModel("NVIDIA A30", "A30", "", 24576, 0x20B7, "ampere", "8.0", 4),
    GpuModel("NVIDIA A10G", "A10G", "", 23028, 0x2237, "ampere", "8.6", 0),
    GpuModel("NVIDIA A10", "A10", "", 23028, 0x2236, "ampere", "8.6", 0),
    GpuModel("NVIDIA L40S", "L40S", "", 46068, 0x26B9, "ada", "8.9", 0),
    GpuModel("NVIDIA L40", "L40", "", 46068, 0x26B5, "ada", "8.9", 0),
    GpuModel("NVIDIA L4", "L4", "", 23034, 0x27B8, "ada", "8.9", 0),
    GpuModel("Tesla V100-SXM2-32GB", "V100", "SXM", 32768, 0x1DB1, "volta", "7.0", 6),
    GpuModel("Tesla V100-PCIE-32GB", "V100", "PCIE", 32768, 0x1DB6, "volta", "7.0", 0),
    GpuModel("Tesla T4", "T4", "", 15360, 0x1EB8, "turing", "7.5", 0),
)

# vGPU type names: "<board><form>-<GB><series>", e.g. L40S-48C, H100XM-80C, A100DX-80C, V100D-8C.
_VGPU = re.compile(r"^(?P<board>[A-Z0-9]+?)(?P<form>XM|DX|D|X)?-(?P<gb>\d+)(?P<series>[ABCQS])$")
_VGPU_FORM = {"XM": "SXM", "DX": "SXM", "D": "PCIE", "X": "PCIE"}


def normalise(name: str) -> str:
    """Upper case, `-`/`_`/spaces unified, vendor prefixes and GFD suffixes (`-SHARED`, `-MIG-*`) removed."""
    text = re.sub(r"[\s_]+", "-", name.strip().upper())
    text = re.sub(r"^(NVIDIA|TESLA|GRID)-", "", text)
    text = re.sub(r"-MIG-.*$", "", text)
    return text.removesuffix("-SHARED")


def by_name(name: str) -> GpuModel | None:
    """The known model with this NVML or GFD product name (physical GPUs only)."""
    wanted = normalise(name)
    return next((m for m in KNOWN if normalise(m.name) == wanted), None)


def vgpu_profile(name: str) -> tuple[str, str, int] | None:
    """For a vGPU type name, (family, variant, framebuffer GB); `None` for a physical GPU's name."""
    match = _VGPU.match(normalise(name))
    if not match:
        return None
    board = match.group("board")
    variant = _VGPU_FORM.get(match.group("form") or "", "")
    return board, variant, int(match.group("gb"))


def product(name: str) -> str:
    """Normalised family and variant of an NVML name or a GFD product label: `H100-SXM`, `L40S`.

    An unrecognised name is returned normalised, so that two nodes with the same unknown GPU still match.
    """
    model = by_name(name)
    if model:
        return model.product
    profile = vgpu_profile(name)
    if profile:
        family, variant, _ = profile
        return f"{family}-{variant}" if variant else family
    return normalise(name)


def family(product_name: str) -> str:
    """The family of a normalised product (`H100-SXM` -> `H100`)."""
    return product_name.split("-", 1)[0]


def version_tuple(text: str) -> tuple[int, ...]:
    """`"535.86.10"` -> (535, 86, 10); non-numeric parts end the version."""
    parts = []
    for part in text.strip().split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)
