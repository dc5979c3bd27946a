"""What nimdoctor knows about GPU models: names as NVML reports them, family and variant, memory, ids.

Used to normalise a GPU's name into the product that placement compares (a vGPU `NVIDIA L40S-48C` is an
L40S), to fill in memory when a machine is imported from a product name alone, and by the built-in machines.
The models are the data-centre and workstation GPUs NVIDIA lists for NIM (NIM for LLMs "Supported Models",
GPUs table, 1.8 to 1.13 and latest) and their siblings, plus the GeForce cards that list names.

Each model's `source` says where its memory figure comes from: the total NVML reports (`nvidia-smi`'s
"Memory-Usage" total, in MiB) as public captures show it, in the card's shipped ECC state (on for data-centre
cards; some workstation cards ship with it off, and turning it on takes about 6% of a GDDR card's memory).
Names and PCI device ids: NVIDIA/open-gpu-kernel-modules' "Compatible GPUs" table (595.45.04). Compute
capabilities: NVIDIA's CUDA GPUs list (developer.nvidia.com/cuda-gpus). NVLink ports: the product's datasheet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SMI = "public nvidia-smi captures"
_UNRECORDED = "figure carried from nimdoctor's first GPU table (its capture not recorded)"


@dataclass(frozen=True)
class GpuModel:
    """A GPU model: NVML name, normalised family/variant, memory, PCI device id, architecture, CC, and where
    the memory figure comes from."""

    name: str
    family: str
    variant: str
    memory_mib: int
    device_id: int  # upper 16 bits of pciDeviceId
    architecture: str
    compute_capability: str
    nvlinks: int  # NVLink ports per GPU (0: none)
    source: str = _SMI

    @property
    def product(self) -> str:
        """Normalised product, e.g. `H100-SXM`, `L40S`."""
        return f"{self.family}-{self.variant}" if self.variant else self.family

    @property
    def pci_device_id(self) -> int:
        """`pciDeviceId` as NVML reports it (device id in the upper half, NVIDIA's vendor id below)."""
        return (self.device_id << 16) | 0x10DE


# Families are one token, so that `family()` never joins two products (an RTX 6000 Ada is no RTX PRO 6000).
KNOWN: tuple[GpuModel, ...] = (
    # Blackwell
    GpuModel("NVIDIA B200", "B200", "SXM", 183359, 0x2901, "blackwell", "10.0", 18),
    GpuModel("NVIDIA GB200", "GB200", "", 189471, 0x2941, "blackwell", "10.0", 18),
    GpuModel("NVIDIA B300 SXM6 AC", "B300", "SXM", 275040, 0x3182, "blackwell", "10.3", 18),
    GpuModel(
        "NVIDIA RTX PRO 6000 Blackwell Server Edition",
        "RTXPRO6000",
        "SV",
        97887,
        0x2BB5,
        "blackwell",
        "12.0",
        0,
    ),
    GpuModel(
        "NVIDIA RTX PRO 6000 Blackwell Workstation Edition",
        "RTXPRO6000",
        "WS",
        97887,
        0x2BB1,
        "blackwell",
        "12.0",
        0,
    ),
    GpuModel("NVIDIA GeForce RTX 5090", "RTX5090", "", 32607, 0x2B85, "blackwell", "12.0", 0),
    # Hopper
    GpuModel(
        "NVIDIA H100 80GB HBM3", "H100", "SXM", 81559, 0x2330, "hopper", "9.0", 18, "NVIDIA/nccl#1264, GFD"
    ),
    GpuModel("NVIDIA H100 PCIe", "H100", "PCIE", 81559, 0x2331, "hopper", "9.0", 12, _UNRECORDED),
    GpuModel("NVIDIA H100 NVL", "H100", "NVL", 95830, 0x2321, "hopper", "9.0", 12),
    GpuModel("NVIDIA H200", "H200", "SXM", 143771, 0x2335, "hopper", "9.0", 18),
    GpuModel("NVIDIA H200 NVL", "H200", "NVL", 143771, 0x233B, "hopper", "9.0", 18),
    GpuModel("NVIDIA H20", "H20", "", 97871, 0x2329, "hopper", "9.0", 18),
    GpuModel("NVIDIA GH200 480GB", "GH200", "", 97871, 0x2342, "hopper", "9.0", 18),
    # Ada
    GpuModel("NVIDIA L40S", "L40S", "", 46068, 0x26B9, "ada", "8.9", 0),
    GpuModel("NVIDIA L40", "L40", "", 46068, 0x26B5, "ada", "8.9", 0),
    GpuModel("NVIDIA L4", "L4", "", 23034, 0x27B8, "ada", "8.9", 0),
    GpuModel(
        "NVIDIA RTX 6000 Ada Generation", "RTX6000", "ADA", 49140, 0x26B1, "ada", "8.9", 0, _SMI + ", ECC off"
    ),
    GpuModel(
        "NVIDIA RTX 5880 Ada Generation", "RTX5880", "ADA", 46068, 0x26B3, "ada", "8.9", 0, _SMI + ", ECC on"
    ),
    GpuModel(
        "NVIDIA RTX 5000 Ada Generation", "RTX5000", "ADA", 32760, 0x26B2, "ada", "8.9", 0, _SMI + ", ECC off"
    ),
    GpuModel("NVIDIA GeForce RTX 4090", "RTX4090", "", 24564, 0x2684, "ada", "8.9", 0),
    # Ampere
    GpuModel("NVIDIA A100-SXM4-80GB", "A100", "SXM", 81920, 0x20B2, "ampere", "8.0", 12),
    GpuModel("NVIDIA A100-SXM4-40GB", "A100", "SXM", 40960, 0x20B0, "ampere", "8.0", 12),
    GpuModel("NVIDIA A100 80GB PCIe", "A100", "PCIE", 81920, 0x20B5, "ampere", "8.0", 12, _UNRECORDED),
    GpuModel("NVIDIA A100-PCIE-40GB", "A100", "PCIE", 40960, 0x20F1, "ampere", "8.0", 12, _UNRECORDED),
    GpuModel("NVIDIA A30", "A30", "", 24576, 0x20B7, "ampere", "8.0", 4),
    GpuModel("NVIDIA A40", "A40", "", 46068, 0x2235, "ampere", "8.6", 4),  # NVLink bridge: NV4 pairs
    GpuModel("NVIDIA A10G", "A10G", "", 23028, 0x2237, "ampere", "8.6", 0),
    GpuModel("NVIDIA A10", "A10", "", 23028, 0x2236, "ampere", "8.6", 0, _UNRECORDED),
    GpuModel("NVIDIA RTX A6000", "A6000", "", 49140, 0x2230, "ampere", "8.6", 4, _SMI + ", ECC off"),
    # Older than NIM supports, kept to say so
    GpuModel("Tesla V100-SXM2-32GB", "V100", "SXM", 32768, 0x1DB1, "volta", "7.0", 6, _UNRECORDED),
    GpuModel("Tesla V100-PCIE-32GB", "V100", "PCIE", 32768, 0x1DB6, "volta", "7.0", 0, _UNRECORDED),
    GpuModel("Tesla T4", "T4", "", 15360, 0x1EB8, "turing", "7.5", 0, _UNRECORDED),
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
