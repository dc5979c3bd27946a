"""Turn a real node's `nvidia-smi topo -m` (and optionally `nvidia-smi -q`, or a GPU product name) into a
machine description, so "will this model fit on that box" can be asked before the box exists.

The topology gives the GPUs, their NVLinks and their PCIe/NUMA layout; the GPU model comes from `-q` or from
`nimdoctor.gpus`' table. Topology alone gives GPUs of unknown model: memory and compute capability are `null`
and the description says so.
"""

from __future__ import annotations

import re
import textwrap
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from nimdoctor import API_VERSION, gpus
from nimdoctor.sanitize import clean_line
from nimdoctor.simulation.machine import (
    MACHINE_KIND,
    FabricSpec,
    GpuSpec,
    LinkSpec,
    MachineError,
    MachineSpec,
    MemorySpec,
    MetadataSpec,
    MigSpec,
    NvlinkSpec,
    NvSwitchSpec,
    PcieSpec,
    SystemSpec,
    Virtualization,
    checked_spec,
)
from nimdoctor.topo import PCIE_LEVELS, TopoMatrix, TopoParseError, parse_topo

UNKNOWN_GPU = "unknown GPU"
# NVML_NVLINK_MAX_LINKS in nvidia-ml-py 13.615: no GPU can report more links than this.
MAX_LINKS = 36
# Switches per GPU on real NVSwitch boards, by links per GPU: HGX H100 spreads 18 links over 4 switches
# (nvidia-smi nvlink -R, NVIDIA/nccl#1182), DGX A100 12 links over 6 (NVIDIA/nccl#1505). Other counts: one.
_SWITCHES_BY_LINKS = {18: 4, 12: 6}
_NVLINK_VERSION = {"volta": "2.0", "ampere": "3.0", "hopper": "4.0", "blackwell": "5.0"}
_FABRIC_ARCHITECTURES = {"hopper", "blackwell"}  # NVML reports fabric state for Hopper and newer
_VIRTUALIZATION = {
    "none": Virtualization.NONE,
    "passthrough": Virtualization.PASSTHROUGH,
    "vgpu": Virtualization.VGPU,
    "hostvgpu": Virtualization.HOST_VGPU,
    "hostvsga": Virtualization.HOST_VSGA,
}
_GPU_SECTION = re.compile(r"GPU ([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7])")
_MIB = re.compile(r"([0-9]{1,9}) MiB")
_DEVICE_ID = re.compile(r"0x[0-9A-Fa-f]{1,8}")
_CUDA = re.compile(r"([0-9]{1,2})\.([0-9])")
_NV = re.compile(r"NV([0-9]{1,2})")
# nvidia-smi -q prints some 6 KB per GPU; 64 GPUs stay far below this.
MAX_SMI_Q_CHARS = 8 << 20
_ECHO = 80


class MachineImportError(Exception):
    """Input that cannot become a machine description; names the file and, where there is one, the line."""

    def __init__(self, message: str, line_no: int | None = None) -> None:
        super().__init__(message)
        self.line_no = line_no


@dataclass(frozen=True)
class ImportedMachine:
    """The description, and what the import had to assume (printed as YAML comments above it)."""

    spec: MachineSpec
    notes: tuple[str, ...]

    def to_yaml(self) -> str:
        """The description as YAML, preceded by the notes as comments."""
        from nimdoctor.simulation.machine import to_yaml

        comments = (
            clean_line(line)
            for note in self.notes
            for line in textwrap.wrap(note, 108, break_on_hyphens=False)
        )
        return "".join(f"# {line}\n" for line in comments) + to_yaml(self.spec)


@dataclass(frozen=True)
class GpuIdentity:
    """What a GPU is, as far as the inputs say (`None`: they do not say)."""

    name: str
    memory: MemorySpec | None
    pci_device_id: int
    architecture: str
    compute_capability: str | None
    nvlink_ports: int | None  # None: unknown model
    virtualization: Virtualization | None = None
    mig: MigSpec | None = None
    bus_id: str | None = None
    uuid: str | None = None


_UNKNOWN = GpuIdentity(
    name=UNKNOWN_GPU,
    memory=None,
    pci_device_id=0x10DE,  # NVIDIA's vendor id, device unknown
    architecture="unknown",
    compute_capability=None,
    nvlink_ports=None,
)


@dataclass(frozen=True)
class SmiQ:
    """The parts of `nvidia-smi -q` a machine description needs."""

    driver: str | None
    cuda: int | None
    gpus: tuple[GpuIdentity, ...]


def import_machine(
    topo_text: str,
    *,
    smi_q_text: str | None = None,
    gpu_name: str | None = None,
    name: str = "imported",
    topo_label: str = "topo",
    smi_q_label: str = "nvidia-smi -q",
) -> ImportedMachine:
    """A machine description from `nvidia-smi topo -m` text, plus `-q` text or a GPU product name.

    Raises `MachineImportError` (naming the file and line) for anything that is not such output or that
    contradicts itself; never anything else.
    """
    if smi_q_text is not None and gpu_name is not None:
        raise MachineImportError("give either nvidia-smi -q output or a GPU name, not both")
    try:
        topo = parse_topo(topo_text)
    except TopoParseError as exc:
        raise MachineImportError(f"{topo_label}: {exc}", exc.line_no) from exc
    count = len(topo.gpus)
    smi = parse_smi_q(smi_q_text, smi_q_label) if smi_q_text is not None else None
    if smi is not None and len(smi.gpus) != count:
        raise MachineImportError(
            f"{smi_q_label}: {len(smi.gpus)} GPU section(s), but {topo_label} shows {count} GPU(s)"
        )
    if smi is not None:
        identities = list(smi.gpus)
    else:
        identities = [identity_for_name(gpu_name) if gpu_name else _UNKNOWN] * count
    notes = [_source_line(topo_label, smi_q_label if smi else None, gpu_name)]
    if gpu_name:
        notes.append(_table_note(gpu_name))

    pcie, pcie_notes = _pcie_layout(topo, topo_label)
    notes += pcie_notes
    used_bus_ids = {i.bus_id.upper() for i in identities if i.bus_id}
    bus_ids = [i.bus_id or _free_bus_id(used_bus_ids, 0x18 + n) for n, i in enumerate(identities)]
    links, switches, link_notes = _nvlinks(topo, identities, used_bus_ids, topo_label)
    notes += link_notes

    modes = {i.virtualization for i in identities}
    machine_mode = modes.pop() if len(modes) == 1 else None
    gpu_specs = [
        GpuSpec(
            index=n,
            name=ident.name,
            uuid=ident.uuid or _synthetic_uuid(name, n),
            bus_id=bus_ids[n],
            pci_device_id=ident.pci_device_id,
            architecture=ident.architecture,
            compute_capability=ident.compute_capability,
            memory=ident.memory,
            virtualization=None if machine_mode is not None else ident.virtualization,
            mig=ident.mig,
            fabric=FabricSpec()
            if _switched(links[n]) and ident.architecture in _FABRIC_ARCHITECTURES
            else None,
            nvlink=_nvlink_spec(ident.architecture, links[n]),
            pcie=pcie[n],
        )
        for n, ident in enumerate(identities)
    ]
    notes += _model_notes(identities)
    if smi is None:
        notes.append(
            "Bus ids and UUIDs are synthesized; the driver and CUDA versions are unknown (import with "
            "--smi-q): the driver check skips."
        )
    notes.append(
        "No host section: containerd's open-file limits are unknown (no capture shows them), so the "
        "open-file checks skip; add one (see `nimdoctor machine show dgx-h100-containerd2 -o yaml`)."
    )
    if topo.nics:
        notes.append(f"NICs ({', '.join(topo.nics)}) are not part of a machine description: left out.")
    system = SystemSpec(
        driver=smi.driver if smi else None,
        cuda=smi.cuda if smi else None,
    )
    spec = MachineSpec(
        api_version=API_VERSION,
        kind=MACHINE_KIND,
        metadata=MetadataSpec(
            name=name,
            description=_description(identities, links, switches, pcie),
            source=notes[0],
        ),
        system=system,
        virtualization=machine_mode or Virtualization.NONE,
        gpus=gpu_specs,
        nvswitches=[NvSwitchSpec(bus_id=bus) for bus in switches],
    )
    try:
        spec = checked_spec(spec, name)
    except MachineError as exc:
        raise MachineImportError(f"{topo_label}: the imported description is invalid: {exc}") from exc
    return ImportedMachine(spec=spec, notes=tuple(notes))


def identity_for_name(name: str) -> GpuIdentity:
    """A GPU known by its product name (`NVIDIA L40S`) or vGPU type (`NVIDIA L40S-48C`, the profile's memory).

    Raises `MachineImportError` listing the known names.
    """
    model = gpus.by_name(name)
    if model is not None:
        return _model_identity(model)
    profile = gpus.vgpu_profile(name)
    physical = _physical_model(name)
    if profile is not None and physical is not None:
        return GpuIdentity(
            name=name.strip(),
            memory=MemorySpec(total_mib=profile[2] * 1024),
            pci_device_id=physical.pci_device_id,
            architecture=physical.architecture,
            compute_capability=physical.compute_capability,
            nvlink_ports=physical.nvlinks,
            virtualization=Virtualization.VGPU,
        )
    known = ", ".join(m.name for m in gpus.KNOWN)
    raise MachineImportError(
        f"unknown GPU {_echo(name)}; known: {known} (or a vGPU type of one of them, e.g. NVIDIA L40S-48C)"
    )


def _model_identity(model: gpus.GpuModel) -> GpuIdentity:
    return GpuIdentity(
        name=model.name,
        memory=MemorySpec(total_mib=model.memory_mib),
        pci_device_id=model.pci_device_id,
        architecture=model.architecture,
        compute_capability=model.compute_capability,
        nvlink_ports=model.nvlinks,
    )


def _physical_model(name: str) -> gpus.GpuModel | None:
    """The known physical GPU behind a product or vGPU type name (`GRID V100D-8C` -> V100 PCIe)."""
    model = gpus.by_name(name)
    if model is not None:
        return model
    profile = gpus.vgpu_profile(name)
    if profile is None:
        return None
    family, variant, _ = profile
    return next((m for m in gpus.KNOWN if m.family == family and m.variant == variant), None)


def parse_smi_q(text: str, label: str = "nvidia-smi -q") -> SmiQ:
    """The driver, CUDA version and per-GPU identity from `nvidia-smi -q` text."""
    if len(text) > MAX_SMI_Q_CHARS:
        raise MachineImportError(
            f"{label}: {len(text)} characters; nvidia-smi -q output is at most {MAX_SMI_Q_CHARS}"
        )
    header: dict[str, tuple[int, str]] = {}
    sections: list[tuple[int, str, dict[str, tuple[int, str]]]] = []
    stack: list[tuple[int, str]] = []
    for no, line in enumerate(text.removeprefix("\ufeff").splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("==="):
            continue
        section = _GPU_SECTION.fullmatch(stripped)
        if section and line == line.lstrip():
            sections.append((no, section.group(1), {}))
            stack = []
            continue
        fields = sections[-1][2] if sections else header
        indent = len(line) - len(line.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key, colon, value = stripped.partition(":")
        if colon:
            fields["/".join([s for _, s in stack] + [key.strip()])] = (no, value.strip())
        elif sections:
            stack.append((indent, stripped))
        else:
            raise MachineImportError(f"{label}: line {no}: expected `Key : Value`: {_echo(stripped)}", no)
    if not sections:
        raise MachineImportError(f"{label}: no GPU section (a line like `GPU 00000000:18:00.0`)")
    for key in ("Attached GPUs", "Attached vGPUs"):
        if key in header:
            no, value = header[key]
            if value != str(len(sections)):
                raise MachineImportError(
                    f"{label}: line {no}: {key} says {value}, but {len(sections)} GPU section(s) follow", no
                )
    driver = header.get("Driver Version", (0, "N/A"))[1]
    cuda = header.get("CUDA Version")
    return SmiQ(
        driver=None if driver in ("", "N/A") else driver,
        cuda=_cuda_version(cuda, label) if cuda else None,
        gpus=tuple(_smi_gpu(no, bus, fields, label) for no, bus, fields in sections),
    )


def _cuda_version(field: tuple[int, str], label: str) -> int | None:
    no, value = field
    if value == "N/A":
        return None
    match = _CUDA.fullmatch(value)
    if not match:
        raise MachineImportError(f"{label}: line {no}: CUDA Version {_echo(value)} is not MAJOR.MINOR", no)
    return int(match.group(1)) * 1000 + int(match.group(2)) * 10  # NVML's encoding: 12.2 -> 12020


def _smi_gpu(section_no: int, bus_id: str, fields: dict[str, tuple[int, str]], label: str) -> GpuIdentity:
    def value(key: str) -> str | None:
        found = fields.get(key)
        return None if found is None or found[1] in ("", "N/A") else found[1]

    def mib(key: str) -> int | None:
        text = value(key)
        if text is None:
            return None
        match = _MIB.fullmatch(text)
        if not match:
            no = fields[key][0]
            raise MachineImportError(f"{label}: line {no}: {key} {_echo(text)} is not `<n> MiB`", no)
        return int(match.group(1))

    product = value("Product Name")
    if product is None:
        raise MachineImportError(f"{label}: line {section_no}: GPU {bus_id} has no Product Name", section_no)
    physical = _physical_model(product)
    total = mib("FB Memory Usage/Total")
    device_text = value("PCI/Device Id")
    if device_text is not None and not _DEVICE_ID.fullmatch(device_text):
        no = fields["PCI/Device Id"][0]
        raise MachineImportError(f"{label}: line {no}: Device Id {_echo(device_text)} is not hexadecimal", no)
    architecture = (value("Product Architecture") or "").split(" ")[0].lower()
    mode = (value("GPU Virtualization Mode/Virtualization Mode") or "").lower().replace("-", "")
    mig_current, mig_pending = value("MIG Mode/Current"), value("MIG Mode/Pending")
    return GpuIdentity(
        name=product,
        memory=MemorySpec(total_mib=total, reserved_mib=mib("FB Memory Usage/Reserved") or 0)
        if total is not None
        else None,
        pci_device_id=int(device_text, 16)
        if device_text
        else (physical.pci_device_id if physical else _UNKNOWN.pci_device_id),
        architecture=architecture or (physical.architecture if physical else "unknown"),
        compute_capability=physical.compute_capability if physical else None,
        nvlink_ports=physical.nvlinks if physical else None,
        virtualization=_VIRTUALIZATION.get(mode.replace(" ", "")),
        mig=MigSpec(current=mig_current == "Enabled", pending=mig_pending == "Enabled")
        if mig_current is not None
        else None,
        bus_id=bus_id,
        uuid=value("GPU UUID"),
    )


def _pcie_layout(topo: TopoMatrix, label: str) -> tuple[list[PcieSpec], list[str]]:
    """A PCIe tree (NUMA node, root complex, switch chain per GPU) that reproduces the matrix.

    `topo -m` prints NV# instead of the PCIe level for NVLink-connected GPUs, so those pairs constrain
    nothing here: they end up NODE (same NUMA node) or SYS (different), unless their PCIe neighbours place
    them closer.
    """
    n = len(topo.gpus)
    rel = [[c if c in PCIE_LEVELS else None for c in gpu.cells] for gpu in topo.gpus]
    notes = []
    if any(c.startswith("NV") for gpu in topo.gpus for c in gpu.cells):
        notes.append(
            "topo -m hides the PCIe path of NVLink-connected GPUs behind NV#: it is derived from NUMA "
            "affinity (same node: NODE, different nodes: SYS)."
        )
    column = [gpu.numa for gpu in topo.gpus]
    if all(v is not None for v in column):
        numa = [v for v in column if v is not None]
    else:
        notes.append("NUMA Affinity not given for every GPU: NUMA nodes are numbered from the matrix.")
        numa = _groups(n, lambda i, j: rel[i][j] != "SYS")
    root = _groups(n, lambda i, j: numa[i] == numa[j] and rel[i][j] in ("PIX", "PXB", "PHB"))
    top = _groups(n, lambda i, j: root[i] == root[j] and rel[i][j] in ("PIX", "PXB"))
    leaf = _groups(n, lambda i, j: top[i] == top[j] and rel[i][j] == "PIX")
    specs = []
    for i in range(n):
        # A GPU whose switch has no other GPU under it still gets one, so no two GPUs share an empty chain.
        nested = len({leaf[j] for j in range(n) if top[j] == top[i]}) > 1
        chain = [f"sw{top[i]}"] + ([f"sw{top[i]}.{leaf[i]}"] if nested else [])
        specs.append(PcieSpec(numa=numa[i], root_complex=root[i], switches=chain))
    for i in range(n):
        for j in range(i):
            if rel[i][j] is not None and pcie_level(specs[i], specs[j]) != rel[i][j]:
                gpu = topo.gpus[i]
                raise MachineImportError(
                    f"{label}: line {gpu.line_no}: GPU{j} is {rel[i][j]} from {gpu.label}, which contradicts "
                    f"the other rows (not a PCIe tree, or NUMA Affinity disagrees)",
                    gpu.line_no,
                )
    return specs, notes


def pcie_level(a: PcieSpec, b: PcieSpec) -> str:
    """The `topo -m` letter for two devices' PCIe placement, as `PcieSpec` defines it."""
    if a.numa != b.numa:
        return "SYS"
    if a.root_complex != b.root_complex:
        return "NODE"
    if a.switches and b.switches and a.switches[-1] == b.switches[-1]:
        return "PIX"
    return "PXB" if set(a.switches) & set(b.switches) else "PHB"


def _groups(n: int, joined: Callable[[int, int], bool]) -> list[int]:
    """Connected components of `joined`, numbered 0.. in order of their first member."""
    group = list(range(n))
    for i in range(n):
        for j in range(i):
            if joined(i, j):
                old, new = group[i], group[j]
                group = [new if g == old else g for g in group]
    order = {g: k for k, g in enumerate(dict.fromkeys(group))}
    return [order[g] for g in group]


def _nvlinks(
    topo: TopoMatrix, identities: list[GpuIdentity], used_bus_ids: set[str], label: str
) -> tuple[list[list[LinkSpec]], list[str], list[str]]:
    """Links per GPU and the NVSwitches they end at.

    A group of at least 4 GPUs with the same NV# between every pair is an NVSwitch board (nvidia-smi prints
    NV18 for every pair of an HGX H100 although each link ends at a switch); anything else is direct links.
    """
    n = len(topo.gpus)
    nv = [[_nv_count(c) for c in gpu.cells] for gpu in topo.gpus]
    component = _groups(n, lambda i, j: nv[i][j] > 0)
    links: list[list[LinkSpec]] = [[] for _ in range(n)]
    switches: list[str] = []
    notes = []
    for group in sorted(set(component)):
        members = [i for i in range(n) if component[i] == group]
        counts = {nv[i][j] for i in members for j in members if i != j}
        if len(members) >= 4 and len(counts) == 1:
            per_gpu = counts.pop()
            own = [_free_bus_id(used_bus_ids, 0x05) for _ in range(_SWITCHES_BY_LINKS.get(per_gpu, 1))]
            switches += own
            spread = [per_gpu // len(own) + (s < per_gpu % len(own)) for s in range(len(own))]
            for i in members:
                links[i] = [
                    LinkSpec(remote=f"switch:{bus}", count=c) for bus, c in zip(own, spread, strict=True)
                ]
            notes.append(
                f"NV{per_gpu} between every pair of GPUs {_span(members)}: modelled as an NVSwitch system, "
                f"{per_gpu} links per GPU over {len(own)} switches (bus ids synthesized)."
            )
        else:
            for i in members:
                links[i] = [LinkSpec(remote=f"gpu:{j}", count=nv[i][j]) for j in range(n) if nv[i][j]]
    for i, gpu in enumerate(topo.gpus):
        total = sum(link.count for link in links[i])
        ports = identities[i].nvlink_ports
        limit, what = (MAX_LINKS, "NVML's maximum") if ports is None else (ports, identities[i].name)
        if total > limit:
            raise MachineImportError(
                f"{label}: line {gpu.line_no}: {gpu.label} would need {total} NVLinks, "
                f"but {what} has {limit}",
                gpu.line_no,
            )
    return links, switches, notes


def _table_note(name: str) -> str:
    """Where the facts of a GPU imported by name come from: nimdoctor's table, not a measurement."""
    model = gpus.by_name(name)
    if model is None:  # a vGPU type: its memory is in its name, the rest is its physical GPU's
        return f"{_echo(name.strip())}: memory from the vGPU type's name, the rest from nimdoctor's GPU table"
    return (
        f"{model.name}: {model.memory_mib} MiB and compute capability {model.compute_capability} from "
        f"nimdoctor's GPU table ({model.source}); import with --smi-q FILE for the measured memory."
    )


def _model_notes(identities: list[GpuIdentity]) -> list[str]:
    """Say which GPU facts the inputs left unknown."""
    notes = []
    if any(i is _UNKNOWN for i in identities):
        notes.append(
            "GPU model unknown: memory and compute capability are null "
            "(import with --gpu NAME or --smi-q FILE)."
        )
    for ident in {i.name: i for i in identities if i is not _UNKNOWN}.values():
        missing = [
            what
            for what, value in (("memory", ident.memory), ("compute capability", ident.compute_capability))
            if value is None
        ]
        if missing:
            notes.append(
                f"{ident.name}: {' and '.join(missing)} unknown (not in the input or the GPU table)."
            )
    return notes


def _switched(links: list[LinkSpec]) -> bool:
    return any(link.remote.startswith("switch:") for link in links)


def _nv_count(cell: str) -> int:
    match = _NV.fullmatch(cell)
    return int(match.group(1)) if match else 0


def _nvlink_spec(architecture: str, links: list[LinkSpec]) -> NvlinkSpec | None:
    if not links:
        return None
    version = _NVLINK_VERSION.get(architecture)
    return NvlinkSpec(links=links) if version is None else NvlinkSpec(version=version, links=links)


def _free_bus_id(used: set[str], start: int) -> str:
    """The first bus id from `start` on that no GPU or switch has yet (and claim it)."""
    bus = start
    while f"00000000:{bus:02X}:00.0" in used:
        bus += 1
    bus_id = f"00000000:{bus:02X}:00.0"
    used.add(bus_id)
    return bus_id


def _synthetic_uuid(name: str, index: int) -> str:
    # Deterministic, so that importing the same capture twice gives the same description.
    return f"GPU-{uuid.uuid5(uuid.NAMESPACE_URL, f'nimdoctor-import:{name}:{index}')}"


def _echo(text: str) -> str:
    """Input quoted in an error, cut short (a capture line can be megabytes long)."""
    return repr(text if len(text) <= _ECHO else text[: _ECHO - 3] + "...")


def _span(members: list[int]) -> str:
    if members == list(range(members[0], members[-1] + 1)):
        return f"{members[0]}-{members[-1]}"
    return ", ".join(map(str, members))


def _source_line(topo_label: str, smi_q_label: str | None, gpu_name: str | None) -> str:
    parts = [f"nvidia-smi topo -m ({topo_label})"]
    if smi_q_label:
        parts.append(f"nvidia-smi -q ({smi_q_label})")
    if gpu_name:
        parts.append(f"--gpu {gpu_name!r}")
    return "Imported by `nimdoctor machine import` from " + " and ".join(parts) + "."


def _description(
    identities: list[GpuIdentity], links: list[list[LinkSpec]], switches: list[str], pcie: list[PcieSpec]
) -> str:
    models = Counter(i.name for i in identities)
    what = ", ".join(f"{count}x {model}" for model, count in models.items())
    if switches:
        fabric = "NVSwitch"
    elif any(links):
        fabric = "direct NVLink"
    else:
        fabric = "no NVLink"
    numa_nodes = len({p.numa for p in pcie})
    return f"{what}; {fabric}; {numa_nodes} NUMA node{'s' if numa_nodes != 1 else ''} (imported)"
