"""Machine descriptions: one YAML document per (real or hypothetical) GPU node.

A description is the single source of truth for a simulated node. The NVML fake (`fakenvml`) derives every
answer from it, and its optional `host` section stands in for the node's files (containerd's limits, unit
files), so a simulated diagnosis runs the same probes and rules as a real one.

Keys are camelCase, like the rest of nimdoctor's YAML. Paths inside a description (`host.root`) are
relative to the file that holds it.
"""

from __future__ import annotations

import enum
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import msgspec
import yaml

from nimdoctor import API_VERSION, yamlio
from nimdoctor.probes import mig

MACHINE_KIND = "Machine"


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
    `nvmlInit` fails with.
    """

    driver: str = "550.54.15"
    cuda: int = 12040
    nvml: str | None = None
    missing_symbols: list[str] = msgspec.field(default_factory=list)
    init_error: str | None = None


class PcieSpec(Spec, frozen=True, kw_only=True):
    """Where a device hangs in the PCIe tree.

    `switches` is the chain of PCIe switch ids from the root complex down to the device. Two devices are
    PIX when their last switch is the same, PXB when they share a switch higher up, PHB when they share only
    the root complex, NODE when their root complexes are on one NUMA node, SYS otherwise.
    """

    numa: int = 0
    root_complex: int = 0
    switches: list[str] = msgspec.field(default_factory=list)


class MemorySpec(Spec, frozen=True, kw_only=True):
    """Framebuffer as NVML reports it, in MiB (a vGPU guest sees its profile size)."""

    total_mib: int
    reserved_mib: int = 0
    used_mib: int = 0


class MigInstanceSpec(Spec, frozen=True, kw_only=True):
    """MIG devices of one profile on a GPU: what `nvidia-smi -L` lists and GPU Feature Discovery labels.

    `profile` is `[<c>c.]<g>g.<gb>gb` (`3g.40gb`); `memoryMib` is each device's memory as NVML's device
    attributes give it (GFD's `nvidia.com/mig-<profile>.memory` label); `multiprocessors` its SM count.
    The profile must be the name `memoryMib` gives on this GPU (see `nimdoctor.probes.mig`).
    """

    profile: str
    count: int = 1
    memory_mib: int
    multiprocessors: int = 0


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

    state: str = "completed"
    status: str = "SUCCESS"
    clique_id: int = 0
    cluster_uuid: str = "00000000-0000-0000-0000-000000000000"
    health_mask: int = 0


class LinkSpec(Spec, frozen=True, kw_only=True):
    """One or more NVLinks with the same far end.

    `remote` is `gpu:<index>`, `switch:<busId>` (an entry of `nvswitches`) or `unknown` (NVML cannot
    identify the far end, e.g. NVSwitches hidden from a VM; `peers` then lists the GPUs reached through it).
    `count` expands the entry into that many consecutive links.
    """

    remote: str
    count: int = 1
    active: bool = True
    peers: list[int] = msgspec.field(default_factory=list)


class NvlinkSpec(Spec, frozen=True, kw_only=True):
    """A GPU's NVLinks, in link-index order; `version` is the NVLink generation (`4.0` on Hopper)."""

    version: str = "4.0"
    links: list[LinkSpec] = msgspec.field(default_factory=list)


class FaultSpec(Spec, frozen=True, kw_only=True):
    """An injected failure of one C function (or `*` for every per-GPU function) on one GPU.

    `error` is an NVML error name; with `afterCalls` it becomes sticky after that many successful calls.
    `hangSeconds` makes the call block that long first (a GPU fallen off the bus).
    """

    function: str
    error: str | None = None
    after_calls: int = 0
    hang_seconds: float = 0.0


class GpuSpec(Spec, frozen=True, kw_only=True):
    """One GPU as the node sees it.

    `memory` and `computeCapability` are `null` when the description does not know them (a GPU imported
    from `nvidia-smi topo -m` alone, of unknown model); NVML then answers `NOT_SUPPORTED` for them.
    """

    index: int
    name: str
    uuid: str
    bus_id: str
    pci_device_id: int
    architecture: str
    compute_capability: str | None
    brand: str = "nvidia"
    memory: MemorySpec | None
    virtualization: Virtualization | None = None
    mig: MigSpec | None = None
    fabric: FabricSpec | None = None
    nvlink: NvlinkSpec | None = None
    pcie: PcieSpec = msgspec.field(default_factory=PcieSpec)
    faults: list[FaultSpec] = msgspec.field(default_factory=list)


class NvSwitchSpec(Spec, frozen=True, kw_only=True):
    """An NVSwitch; `visible: false` when NVML in this OS cannot see it (a VM)."""

    bus_id: str
    visible: bool = True


class ContainerdSpec(Spec, frozen=True, kw_only=True):
    """The simulated containerd daemon: its pid and open-file limits (`null` for unlimited)."""

    pid: int = 1187
    nofile_soft: int | None
    nofile_hard: int | None


class HostSpec(Spec, frozen=True, kw_only=True):
    """The node's files, for the runtime probe.

    Either `root` (a directory tree, relative to the description file) or an inline description:
    `containerd` (becomes `/proc/<pid>/{comm,limits,stat}`) plus `files` (host path -> content).
    """

    root: str | None = None
    containerd: ContainerdSpec | None = None
    files: dict[str, str] = msgspec.field(default_factory=dict)
    nr_open: int = 1048576


class MetadataSpec(Spec, frozen=True, kw_only=True):
    """What the machine is and which real hardware facts it is modelled on."""

    name: str
    description: str = ""
    source: str = ""


class MachineSpec(Spec, frozen=True, kw_only=True):
    """A whole machine description."""

    api_version: str
    kind: str
    metadata: MetadataSpec
    system: SystemSpec = msgspec.field(default_factory=SystemSpec)
    virtualization: Virtualization = Virtualization.NONE
    gpus: list[GpuSpec] = msgspec.field(default_factory=list)
    nvswitches: list[NvSwitchSpec] = msgspec.field(default_factory=list)
    host: HostSpec | None = None
    # The Kubernetes Node's labels as GPU Feature Discovery would set them (e.g. sharing strategy).
    node_labels: dict[str, str] | None = None


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
    return resources.files("nimdoctor.probes") / "machines"


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
        raise MachineError(f"{label}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise MachineError(f"{label}: expected a mapping (apiVersion, kind: Machine, metadata, gpus)")
    try:
        spec = msgspec.convert(raw, MachineSpec)
    except msgspec.ValidationError as exc:
        raise MachineError(f"{label}: {exc}") from exc
    if spec.api_version != API_VERSION or spec.kind != MACHINE_KIND:
        raise MachineError(
            f"{label}: expected apiVersion {API_VERSION} and kind {MACHINE_KIND}, "
            f"got {spec.api_version} / {spec.kind}"
        )
    validate_machine(spec, label)
    return Machine(spec=spec, base_dir=base_dir)


def validate_machine(spec: MachineSpec, label: str) -> None:
    """Cross-field checks the types cannot express: indices, bus ids and link ends must resolve."""
    indices = [g.index for g in spec.gpus]
    if indices != list(range(len(indices))):
        raise MachineError(f"{label}: gpus[].index must be 0..{len(indices) - 1} in order, got {indices}")
    bus_ids = [g.bus_id.upper() for g in spec.gpus] + [s.bus_id.upper() for s in spec.nvswitches]
    if len(set(bus_ids)) != len(bus_ids):
        raise MachineError(f"{label}: bus ids of GPUs and NVSwitches must be unique")
    switches = {s.bus_id.upper() for s in spec.nvswitches}
    for gpu in spec.gpus:
        for link in gpu.nvlink.links if gpu.nvlink else []:
            _validate_link(label, gpu.index, link, len(spec.gpus), switches)
        if gpu.mig is not None:
            _validate_mig(f"{label}: gpus[{gpu.index}].mig", gpu.mig, gpu.memory)


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
    if link.count < 1:
        raise MachineError(f"{where}: count must be at least 1")
    if kind == "gpu":
        if not target.isdigit() or not 0 <= int(target) < gpu_count or int(target) == index:
            raise MachineError(f"{where}: no such peer GPU")
    elif kind == "switch":
        if target.upper() not in switches:
            raise MachineError(f"{where}: not listed under nvswitches")
    elif kind == "unknown":
        if any(not 0 <= p < gpu_count or p == index for p in link.peers):
            raise MachineError(f"{where}: peers must be other GPU indices")
    else:
        raise MachineError(f"{where}: expected gpu:<index>, switch:<busId> or unknown")


def load_machine_file(path: Path) -> Machine:
    """Load a description from a file; relative paths inside it resolve against its directory."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MachineError(f"{path}: cannot read: {exc}") from exc
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
