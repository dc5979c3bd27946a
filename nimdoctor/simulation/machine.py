"""Machine descriptions: one YAML document per (real or hypothetical) GPU node.

A description is the single source of truth for a simulated node. The NVML fake (`fakenvml`) derives every
answer from it, and its optional `host` section stands in for the node's files (containerd's limits, unit
files), so a simulated diagnosis runs the same probes and rules as a real one.

Keys are camelCase, like the rest of nimdoctor's YAML. Paths inside a description (`host.root`) are
relative to the file that holds it.

A description is untrusted input (a user's file, an import of someone's capture), so every number has a
physical bound and every string a length: at most `MAX_GPUS` GPUs and `MAX_LINKS` NVLinks per GPU, memory
above 0 and at most `MAX_MEMORY_MIB`, identifiers of ASCII digits and letters, integers that fit the NVML
types the fake hands them to (so nothing wraps), and at most `MAX_FILE_BYTES` of YAML.
"""

from __future__ import annotations

import enum
import re
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from nimdoctor import API_VERSION, files, yamlio
from nimdoctor.probes import mig

MACHINE_KIND = "Machine"
MAX_FILE_BYTES = 4 * files.MiB
# No OS sees more GPUs than this on one node (the largest servers carry 16 to 20; NVL72 nodes see 4).
MAX_GPUS = 64
# NVML_NVLINK_MAX_LINKS in nvidia-ml-py 13.615 (18 in 12.x): no GPU reports more links.
MAX_LINKS = 36
# 2 TiB per GPU, far above any GPU made (B300: 288 GB).
MAX_MEMORY_MIB = 2 * 1024 * 1024
# No GPU offers more MIG devices than this (7 on A100, H100 and B200; MIG user guide).
MAX_MIG_DEVICES = 7
_UINT32 = 2**32 - 1
_INT32 = 2**31 - 1

Index = Annotated[int, msgspec.Meta(ge=0, lt=MAX_GPUS)]
MiB = Annotated[int, msgspec.Meta(ge=0, le=MAX_MEMORY_MIB)]
UInt32 = Annotated[int, msgspec.Meta(ge=0, le=_UINT32)]
Short = Annotated[str, msgspec.Meta(max_length=64)]
Text = Annotated[str, msgspec.Meta(max_length=4096)]
BusId = Annotated[
    str, msgspec.Meta(pattern=r"^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}(\.[0-7])?$", max_length=16)
]
# nvml.h buffer sizes less the terminating NUL: NVML answers INSUFFICIENT_SIZE for anything longer.
DeviceName = Annotated[str, msgspec.Meta(min_length=1, max_length=95)]
VersionText = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,6}(\.[0-9]{1,6}){0,3}$", max_length=79)]
_GPU_REMOTE = re.compile(r"[0-9]{1,2}", re.ASCII)


class MachineError(Exception):
    """A machine description is missing, unreadable or invalid."""


class Virtualization(enum.StrEnum):
    """How the OS sees its GPUs (`nvmlDeviceGetVirtualizationMode`)."""

    NONE = "none"
    PASSTHROUGH = "passthrough"
    VGPU = "vgpu"
    HOST_VGPU = "host_vgpu"
    HOST_VSGA = "host_vsga"


class Spec(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True, omit_defaults=True
):
    """Common settings of description structs."""


class SystemSpec(Spec, frozen=True, kw_only=True):
    """Node-wide NVML answers.

    `missingSymbols` removes C functions from the fake library (an older driver): their Python wrappers
    then raise `NVMLError_FunctionNotFound`, as on a real old driver. `initError` is an NVML error name
    (`LIBRARY_NOT_FOUND`, `DRIVER_NOT_LOADED`, `NO_PERMISSION`, `LIB_RM_VERSION_MISMATCH`, ...) that
    `nvmlInit` fails with. `driver` and `cuda` absent (or null) mean the description does not know them
    (an import from `nvidia-smi topo -m` alone): NVML's version queries then answer NOT_SUPPORTED and the
    checks that need them skip, rather than pass on an invented version.
    """

    driver: VersionText | None = None
    cuda: Annotated[int, msgspec.Meta(ge=1000, le=99990)] | None = None  # major * 1000 + minor * 10
    nvml: VersionText | None = None
    missing_symbols: Annotated[list[Short], msgspec.Meta(max_length=512)] = msgspec.field(
        default_factory=list
    )
    init_error: Short | None = None


class PcieSpec(Spec, frozen=True, kw_only=True):
    """Where a device hangs in the PCIe tree.

    `switches` is the chain of PCIe switch ids from the root complex down to the device. Two devices are
    PIX when their last switch is the same, PXB when they share a switch higher up, PHB when they share only
    the root complex, NODE when their root complexes are on one NUMA node, SYS otherwise.
    """

    numa: Annotated[int, msgspec.Meta(ge=0, lt=1024)] = 0  # the kernel's MAX_NUMNODES
    root_complex: Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)] = 0
    switches: Annotated[list[Short], msgspec.Meta(max_length=16)] = msgspec.field(default_factory=list)


class MemorySpec(Spec, frozen=True, kw_only=True):
    """Framebuffer as NVML reports it, in MiB (a vGPU guest sees its profile size)."""

    total_mib: Annotated[int, msgspec.Meta(ge=1, le=MAX_MEMORY_MIB)]
    reserved_mib: MiB = 0
    used_mib: MiB = 0


class MigInstanceSpec(Spec, frozen=True, kw_only=True):
    """MIG devices of one profile on a GPU: what `nvidia-smi -L` lists and GPU Feature Discovery labels.

    `profile` is `[<c>c.]<g>g.<gb>gb` (`3g.40gb`); `memoryMib` is each device's memory as NVML's device
    attributes give it (GFD's `nvidia.com/mig-<profile>.memory` label); `multiprocessors` its SM count.
    The profile must be the name `memoryMib` gives on this GPU (see `nimdoctor.probes.mig`).
    """

    profile: Short
    count: Annotated[int, msgspec.Meta(ge=1, le=MAX_MIG_DEVICES)] = 1
    memory_mib: Annotated[int, msgspec.Meta(ge=1, le=MAX_MEMORY_MIB)]
    multiprocessors: UInt32 = 0


class MigSpec(Spec, frozen=True, kw_only=True):
    """MIG mode and, when it is on, the MIG devices; a GPU without MIG support has `mig: null`.

    `maxDevices` is what `nvmlDeviceGetMaxMigDeviceCount` answers (7 on A100 and H100; MIG user guide).
    """

    current: bool = False
    pending: bool = False
    max_devices: int = 7
    instances: list[MigInstanceSpec] = msgspec.field(default_factory=list)


class FabricSpec(Spec, frozen=True, kw_only=True):
    """NVSwitch fabric state (Hopper and newer on NVSwitch systems); `fabric: null` where unsupported.

    `state` is `not_started|in_progress|completed`; `status` an NVML return name (`SUCCESS`, ...).
    """

    state: Short = "completed"
    status: Short = "SUCCESS"
    clique_id: UInt32 = 0
    cluster_uuid: Short = "00000000-0000-0000-0000-000000000000"
    health_mask: UInt32 = 0


class LinkSpec(Spec, frozen=True, kw_only=True):
    """One or more NVLinks with the same far end.

    `remote` is `gpu:<index>`, `switch:<busId>` (an entry of `nvswitches`) or `unknown` (NVML cannot
    identify the far end, e.g. NVSwitches hidden from a VM; `peers` then lists the GPUs reached through it).
    `count` expands the entry into that many consecutive links.
    """

    remote: Short
    count: Annotated[int, msgspec.Meta(ge=1, le=MAX_LINKS)] = 1
    active: bool = True
    peers: Annotated[list[Index], msgspec.Meta(max_length=MAX_GPUS)] = msgspec.field(default_factory=list)


class NvlinkSpec(Spec, frozen=True, kw_only=True):
    """A GPU's NVLinks, in link-index order; `version` is the NVLink generation (`4.0` on Hopper)."""

    version: Short = "4.0"
    links: Annotated[list[LinkSpec], msgspec.Meta(max_length=MAX_LINKS)] = msgspec.field(default_factory=list)


class FaultSpec(Spec, frozen=True, kw_only=True):
    """An injected failure of one C function (or `*` for every per-GPU function) on one GPU.

    `error` is an NVML error name; with `afterCalls` it becomes sticky after that many successful calls.
    `hangSeconds` makes the call block that long first (a GPU fallen off the bus).
    """

    function: Short
    error: Short | None = None
    after_calls: Annotated[int, msgspec.Meta(ge=0, le=_INT32)] = 0
    hang_seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 0.0


class GpuSpec(Spec, frozen=True, kw_only=True):
    """One GPU as the node sees it.

    `memory` and `computeCapability` are `null` when the description does not know them (a GPU imported
    from `nvidia-smi topo -m` alone, of unknown model); NVML then answers `NOT_SUPPORTED` for them.
    """

    index: Index
    name: DeviceName
    uuid: Annotated[str, msgspec.Meta(min_length=1, max_length=79)]
    bus_id: BusId
    pci_device_id: UInt32
    architecture: Short
    compute_capability: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,2}\.[0-9]{1,2}$")] | None
    brand: Short = "nvidia"
    memory: MemorySpec | None
    virtualization: Virtualization | None = None
    mig: MigSpec | None = None
    fabric: FabricSpec | None = None
    nvlink: NvlinkSpec | None = None
    pcie: PcieSpec = msgspec.field(default_factory=PcieSpec)
    faults: Annotated[list[FaultSpec], msgspec.Meta(max_length=64)] = msgspec.field(default_factory=list)


class NvSwitchSpec(Spec, frozen=True, kw_only=True):
    """An NVSwitch; `visible: false` when NVML in this OS cannot see it (a VM)."""

    bus_id: BusId
    visible: bool = True


class ContainerdSpec(Spec, frozen=True, kw_only=True):
    """The simulated containerd daemon: its pid and open-file limits (`null` for unlimited)."""

    pid: Annotated[int, msgspec.Meta(ge=1, le=1 << 22)] = 1187  # the kernel's largest pid_max
    nofile_soft: Annotated[int, msgspec.Meta(ge=0, le=_INT32)] | None
    nofile_hard: Annotated[int, msgspec.Meta(ge=0, le=_INT32)] | None


class HostSpec(Spec, frozen=True, kw_only=True):
    """The node's files, for the runtime probe.

    Either `root` (a directory tree, relative to the description file), `preset: vks` (the VKS image's
    containerd, `LimitNOFILE=1048576`), or an inline description: `containerd` (becomes
    `/proc/<pid>/{comm,limits,stat}`) plus `files` (host path -> content). A description without a host
    section does not know the node's files: the open-file checks skip.
    """

    preset: Literal["vks"] | None = None
    root: Text | None = None
    containerd: ContainerdSpec | None = None
    files: Annotated[dict[Text, str], msgspec.Meta(max_length=1024)] = msgspec.field(default_factory=dict)
    nr_open: Annotated[int, msgspec.Meta(ge=64, le=_INT32)] = 1048576


class MetadataSpec(Spec, frozen=True, kw_only=True):
    """What the machine is and which real hardware facts it is modelled on."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
    description: Text = ""
    source: Text = ""


class MachineSpec(Spec, frozen=True, kw_only=True):
    """A whole machine description."""

    api_version: Short
    kind: Short
    metadata: MetadataSpec
    system: SystemSpec = msgspec.field(default_factory=SystemSpec)
    virtualization: Virtualization = Virtualization.NONE
    gpus: Annotated[list[GpuSpec], msgspec.Meta(max_length=MAX_GPUS)] = msgspec.field(default_factory=list)
    nvswitches: Annotated[list[NvSwitchSpec], msgspec.Meta(max_length=MAX_GPUS)] = msgspec.field(
        default_factory=list
    )
    host: HostSpec | None = None
    # The Kubernetes Node's labels as GPU Feature Discovery would set them (e.g. sharing strategy).
    node_labels: Annotated[dict[Text, Text], msgspec.Meta(max_length=1024)] | None = None


class Machine(msgspec.Struct, frozen=True, kw_only=True):
    """A loaded description and the directory its relative paths are resolved against."""

    spec: MachineSpec
    base_dir: Path | None = None

    @property
    def name(self) -> str:
        """The machine's name."""
        return self.spec.metadata.name


def builtin_machines_dir() -> Traversable:
    """The built-in descriptions, shipped as package data."""
    return resources.files("nimdoctor.simulation") / "machines"


def builtin_names() -> list[str]:
    """Names of the built-in machines."""
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in builtin_machines_dir().iterdir()
        if entry.name.endswith(".yaml")
    )


def parse_machine(text: str, label: str, base_dir: Path | None = None) -> Machine:
    """Parse and validate one description; `MachineError` names the file and the field."""
    try:
        raw = yamlio.safe_load(text)
    except yaml.YAMLError as exc:
        raise MachineError(f"{label}: not valid YAML: {yamlio.error_text(exc)}") from exc
    if not isinstance(raw, dict):
        raise MachineError(f"{label}: expected a mapping (apiVersion, kind: Machine, metadata, gpus)")
    spec = checked_spec(raw, label)
    if spec.api_version != API_VERSION or spec.kind != MACHINE_KIND:
        raise MachineError(
            f"{label}: expected apiVersion {API_VERSION} and kind {MACHINE_KIND}, "
            f"got {spec.api_version!r} / {spec.kind!r}"
        )
    return Machine(spec=spec, base_dir=base_dir)


def checked_spec(raw: Any, label: str) -> MachineSpec:
    """A description from plain data (or a `MachineSpec` built in code), with every bound enforced."""
    try:
        spec = msgspec.convert(msgspec.to_builtins(raw), MachineSpec)
    except msgspec.ValidationError as exc:
        raise MachineError(f"{label}: {exc}") from exc
    validate_machine(spec, label)
    return spec


def validate_machine(spec: MachineSpec, label: str) -> None:
    """Cross-field checks the types cannot express: indices, bus ids and link ends must resolve, memory and
    link totals stay within one GPU, limits are ordered as the kernel orders them."""
    indices = [g.index for g in spec.gpus]
    if indices != list(range(len(indices))):
        raise MachineError(f"{label}: gpus[].index must be 0..{len(indices) - 1} in order, got {indices}")
    bus_ids = [g.bus_id.upper() for g in spec.gpus] + [s.bus_id.upper() for s in spec.nvswitches]
    if len(set(bus_ids)) != len(bus_ids):
        raise MachineError(f"{label}: bus ids of GPUs and NVSwitches must be unique")
    switches = {s.bus_id.upper() for s in spec.nvswitches}
    for gpu in spec.gpus:
        links = gpu.nvlink.links if gpu.nvlink else []
        for link in links:
            _validate_link(label, gpu.index, link, len(spec.gpus), switches)
        if sum(link.count for link in links) > MAX_LINKS:
            raise MachineError(f"{label}: gpus[{gpu.index}].nvlink: more than {MAX_LINKS} links in all")
        memory = gpu.memory
        if memory is not None and memory.reserved_mib + memory.used_mib > memory.total_mib:
            raise MachineError(f"{label}: gpus[{gpu.index}].memory: reserved plus used exceeds the total")
        if gpu.mig is not None:
            _validate_mig(f"{label}: gpus[{gpu.index}].mig", gpu.mig, gpu.memory)
    host = spec.host
    if host is not None and host.preset is not None and (host.root or host.containerd or host.files):
        raise MachineError(f"{label}: host.preset stands for the whole host: no root, containerd or files")
    containerd = spec.host.containerd if spec.host else None
    if containerd is not None and containerd.nofile_hard is not None:
        soft = containerd.nofile_soft
        if soft is None or soft > containerd.nofile_hard:
            raise MachineError(f"{label}: host.containerd: the soft limit is above the hard limit")


def _validate_mig(where: str, spec: MigSpec, memory: MemorySpec | None) -> None:
    """MIG devices only with MIG on, named as their memory names them, within the GPU's slices and memory."""
    if not spec.instances:
        return
    if not spec.current:
        raise MachineError(f"{where}: instances need MIG enabled (current: true)")
    if memory is None:
        raise MachineError(f"{where}: instances need the GPU's memory.totalMib")
    total = memory.total_mib * 2**20
    devices = slices = used = 0
    for instance in spec.instances:
        parsed = mig.parse_profile(instance.profile)
        if parsed is None or instance.count < 1 or instance.memory_mib < 1:
            raise MachineError(
                f"{where}: {instance.profile!r}: needs a profile like 3g.40gb, count and memoryMib >= 1"
            )
        compute, gpu_slices, _ = parsed
        named = mig.profile_name(gpu_slices, compute, instance.memory_mib, total)
        if named != instance.profile:
            raise MachineError(
                f"{where}: instance {instance.profile!r}: {instance.memory_mib} MiB of a "
                f"{memory.total_mib} MiB GPU is profile {named}"
            )
        devices += instance.count
        slices += gpu_slices * instance.count
        used += instance.memory_mib * instance.count
    if devices > spec.max_devices or slices > 7 or used > memory.total_mib:
        raise MachineError(
            f"{where}: {devices} devices of {slices} GPU slices and {used} MiB exceed the GPU "
            f"(at most {spec.max_devices} devices, 7 slices, {memory.total_mib} MiB)"
        )


def _validate_link(label: str, index: int, link: LinkSpec, gpu_count: int, switches: set[str]) -> None:
    where = f"{label}: gpus[{index}].nvlink: remote {link.remote!r}"
    kind, _, target = link.remote.partition(":")
    if kind == "gpu":
        if not _GPU_REMOTE.fullmatch(target) or not 0 <= int(target) < gpu_count or int(target) == index:
            raise MachineError(f"{where}: no such peer GPU")
    elif kind == "switch":
        if target.upper() not in switches:
            raise MachineError(f"{where}: not listed under nvswitches")
    elif kind == "unknown":
        if any(not 0 <= p < gpu_count or p == index for p in link.peers):
            raise MachineError(f"{where}: peers must be other GPU indices")
    else:
        raise MachineError(f"{where}: expected gpu:<index>, switch:<busId> or unknown")


def unmeasured(spec: MachineSpec) -> dict[str, str]:
    """The facts a description does not hold, and why: what a diagnosis of it must not invent.

    Keys: `driver` (the driver, CUDA and NVML versions) and `openFiles` (containerd's open-file limits).
    """
    found = {}
    if spec.system.init_error is None and (spec.system.driver is None or spec.system.cuda is None):
        found["driver"] = (
            "the machine description does not give the driver and CUDA versions (import it with --smi-q)"
        )
    if spec.host is None:
        found["openFiles"] = (
            "the machine description has no host section, so containerd's open-file limits were not measured"
        )
    return found


def load_machine_file(path: Path) -> Machine:
    """Load a description from a file; relative paths inside it resolve against its directory."""
    try:
        text = files.read_text_file(path, MAX_FILE_BYTES)
    except OSError as exc:
        raise MachineError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise MachineError(f"{path}: cannot read: not UTF-8 (byte {exc.start})") from exc
    return parse_machine(text, str(path), base_dir=path.resolve().parent)


def load_builtin(name: str) -> Machine:
    """A built-in machine by name; `MachineError` lists the known names."""
    entry = builtin_machines_dir() / f"{name}.yaml"
    if not entry.is_file():
        raise MachineError(f"unknown machine {name!r}; built-in: {', '.join(builtin_names())}")
    return parse_machine(entry.read_text(encoding="utf-8"), f"machine {name}")


def to_yaml(spec: MachineSpec) -> str:
    """A description as YAML text (what `machine show` and `machine import` print)."""
    data: Any = msgspec.to_builtins(spec)
    return yaml.safe_dump(data, sort_keys=False, width=110)
