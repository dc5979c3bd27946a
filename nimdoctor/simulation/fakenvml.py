"""A fake NVML at the C-symbol layer, derived from one machine description.

`FakeNvmlLib` takes the place of `libnvidia-ml.so.1` as `pynvml.nvmlLib`. The real nvidia-ml-py wrappers
then call it by C symbol name (`nvmlDeviceGetCount_v2`, `nvmlDeviceGetPciInfo_v3`, ...) with the ctypes
arguments they would pass to the C library, so the binding's versioned symbols, structs, `byref`
out-parameters, string decoding and error classes all run unchanged (reference: nvml.md §8).

Every answer is read from one immutable `Topology`, computed once from the description: link state, far
ends, P2P status, PCIe common ancestors and field values are derived from the same graph and cannot
contradict each other.

Modelled behaviour of the real library:
- arguments ctypes cannot convert (a tuple or float where an index or link is expected) raise
  `ctypes.ArgumentError`, as a foreign function call would;
- a struct whose `.version` is wrong gets `ARGUMENT_VERSION_MISMATCH`;
- NVLink calls on a GPU without NVLink get `NOT_SUPPORTED`; a link index at or past the GPU's link count
  gets `INVALID_ARGUMENT`, except `nvmlDeviceGetNvLinkCapability`, which answers true for every index below
  `NVML_NVLINK_MAX_LINKS` (measured on B200);
- any call but `nvmlInitWithFlags`/`nvmlErrorString` before init gets `UNINITIALIZED`;
- `system.initError` fails init; `LIBRARY_NOT_FOUND` makes loading fail exactly as a failing `CDLL` does;
- `nvmlDeviceGetNumaNodeId` gets `NOT_SUPPORTED` (nvml.h: it applies only where the GPU's memory is itself
  a NUMA node, e.g. GH200); the NUMA node a GPU hangs off comes from `nvmlDeviceGetMemoryAffinity`;
- a vGPU guest: host vGPU mode `NOT_SUPPORTED`, MIG mode disabled (nvidia-smi shows `Disabled`, not N/A),
  no P2P over PCIe;
- MIG mode on either GPU disables P2P between them (MIG user guide: no GPU-to-GPU P2P, PCIe or NVLink);
- MIG devices (`mig.instances`) answer `nvmlDeviceGetMaxMigDeviceCount`, `nvmlDeviceGetMigDeviceHandleByIndex`
  (dense indices, `NOT_FOUND` past the last), `nvmlDeviceGetAttributes_v2` (slice counts, memory, SMs; a
  whole GPU gets `NOT_SUPPORTED`, as nvml.h says it supports MIG device handles only),
  `nvmlDeviceIsMigDeviceHandle` and `nvmlDeviceGetDeviceHandleFromMigDeviceHandle`; any other function
  given a MIG device handle gets `INVALID_ARGUMENT` (not modelled);
- an NVSwitch with `visible: false`, or a far end `unknown`: remote PCI `FFFFFFFF:FF:FF.0`, remote type
  UNKNOWN, while P2P over NVLink still works among the GPUs it joins.

Decisions where no measurement was found (documented, consistently applied): remote PCI and remote type
answer the wired far end whether or not the link is active; field 147 counts active links to NVSwitches
this OS can see; a pair's P2P over PCIe is OK down to NODE and CHIPSET_NOT_SUPPORTED across sockets (SYS);
a Hopper or newer GPU without fabric info answers the fabric query with state NOT_SUPPORTED, older GPUs
fail it with `NOT_SUPPORTED`. A description that does not know the driver (`system.driver` or `cuda` null:
imported from `nvidia-smi topo -m` alone) answers the driver, CUDA and NVML version queries with
`NOT_SUPPORTED`, so the probe reports them unknown instead of an invented version.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pynvml

from nimdoctor.probes import mig as mig_names
from nimdoctor.simulation.machine import FaultSpec, GpuSpec, MachineError, MachineSpec, Virtualization

SUCCESS = pynvml.NVML_SUCCESS
UNIDENTIFIED_BUS_ID = "FFFFFFFF:FF:FF.0"
LIBRARY_NAME = "libnvidia-ml.so.1"

_ARCHITECTURES = {
    "kepler": pynvml.NVML_DEVICE_ARCH_KEPLER,
    "maxwell": pynvml.NVML_DEVICE_ARCH_MAXWELL,
    "pascal": pynvml.NVML_DEVICE_ARCH_PASCAL,
    "volta": pynvml.NVML_DEVICE_ARCH_VOLTA,
    "turing": pynvml.NVML_DEVICE_ARCH_TURING,
    "ampere": pynvml.NVML_DEVICE_ARCH_AMPERE,
    "ada": pynvml.NVML_DEVICE_ARCH_ADA,
    "hopper": pynvml.NVML_DEVICE_ARCH_HOPPER,
    "blackwell": pynvml.NVML_DEVICE_ARCH_BLACKWELL,
    "unknown": pynvml.NVML_DEVICE_ARCH_UNKNOWN,
}
_BRANDS = {
    "unknown": pynvml.NVML_BRAND_UNKNOWN,
    "quadro": pynvml.NVML_BRAND_QUADRO,
    "tesla": pynvml.NVML_BRAND_TESLA,
    "nvs": pynvml.NVML_BRAND_NVS,
    "grid": pynvml.NVML_BRAND_GRID,
    "geforce": pynvml.NVML_BRAND_GEFORCE,
    "titan": pynvml.NVML_BRAND_TITAN,
    "vapps": pynvml.NVML_BRAND_NVIDIA_VAPPS,
    "vpc": pynvml.NVML_BRAND_NVIDIA_VPC,
    "vcs": pynvml.NVML_BRAND_NVIDIA_VCS,
    "vws": pynvml.NVML_BRAND_NVIDIA_VWS,
    "cloud_gaming": pynvml.NVML_BRAND_NVIDIA_CLOUD_GAMING,
    "quadro_rtx": pynvml.NVML_BRAND_QUADRO_RTX,
    "nvidia_rtx": pynvml.NVML_BRAND_NVIDIA_RTX,
    "nvidia": pynvml.NVML_BRAND_NVIDIA,
}
_VIRTUALIZATION = {
    Virtualization.NONE: pynvml.NVML_GPU_VIRTUALIZATION_MODE_NONE,
    Virtualization.PASSTHROUGH: pynvml.NVML_GPU_VIRTUALIZATION_MODE_PASSTHROUGH,
    Virtualization.VGPU: pynvml.NVML_GPU_VIRTUALIZATION_MODE_VGPU,
    Virtualization.HOST_VGPU: pynvml.NVML_GPU_VIRTUALIZATION_MODE_HOST_VGPU,
    Virtualization.HOST_VSGA: pynvml.NVML_GPU_VIRTUALIZATION_MODE_HOST_VSGA,
}
_NVLINK_VERSIONS = {
    "1.0": pynvml.NVML_NVLINK_VERSION_1_0,
    "2.0": pynvml.NVML_NVLINK_VERSION_2_0,
    "2.2": pynvml.NVML_NVLINK_VERSION_2_2,
    "3.0": pynvml.NVML_NVLINK_VERSION_3_0,
    "3.1": pynvml.NVML_NVLINK_VERSION_3_1,
    "4.0": pynvml.NVML_NVLINK_VERSION_4_0,
    "5.0": pynvml.NVML_NVLINK_VERSION_5_0,
    "6.0": pynvml.NVML_NVLINK_VERSION_6_0,
}
_FABRIC_STATES = {
    "not_supported": pynvml.NVML_GPU_FABRIC_STATE_NOT_SUPPORTED,
    "not_started": pynvml.NVML_GPU_FABRIC_STATE_NOT_STARTED,
    "in_progress": pynvml.NVML_GPU_FABRIC_STATE_IN_PROGRESS,
    "completed": pynvml.NVML_GPU_FABRIC_STATE_COMPLETED,
}
# nvmlErrorString texts for the codes the binding's own table lacks.
_ERROR_STRINGS = {
    pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH: "Argument version mismatch",
    pynvml.NVML_ERROR_NOT_READY: "Not ready",
    pynvml.NVML_ERROR_GPU_NOT_FOUND: "GPU not found",
    pynvml.NVML_ERROR_INVALID_STATE: "Invalid state",
    pynvml.NVML_ERROR_IN_USE: "Resource in use",
    pynvml.NVML_ERROR_NO_DATA: "No data",
    pynvml.NVML_ERROR_INSUFFICIENT_RESOURCES: "Insufficient resources",
    pynvml.NVML_ERROR_DEPRECATED: "Deprecated",
}
_P2P_INDEX_READ = 0  # pynvml's NVML_P2P_CAPS_INDEX_READ is the tuple (0,): a stray comma
_MAX_LINKS = pynvml.NVML_NVLINK_MAX_LINKS
_SWITCH_TYPE = pynvml.NVML_NVLINK_DEVICE_TYPE_SWITCH
_NVLINK_CAPS = range(6)  # NVML_NVLINK_CAP_P2P_SUPPORTED .. NVML_NVLINK_CAP_VALID
_HANDLE_STRIDE = 0x40
_instances = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Link:
    """One NVLink of a GPU as the graph sees it, with its far end as NVML reports it."""

    active: bool
    kind: str  # gpu | switch | unknown
    peer: int | None  # kind gpu: the GPU at the far end
    switch: str | None  # kind switch: the switch's bus id, visible or not
    peers: frozenset[int]  # kind unknown: the GPUs reached through it
    remote_bus_id: str
    remote_domain: int
    remote_bus: int
    remote_device: int
    remote_pci_device_id: int
    remote_type: int


@dataclass(frozen=True, slots=True)
class Fabric:
    """NVSwitch fabric registration as `nvmlDeviceGetGpuFabricInfoV` fills it."""

    state: int
    status: int
    clique_id: int
    cluster_uuid: bytes
    health_mask: int


@dataclass(frozen=True, slots=True)
class Fault:
    """An injected failure (see `FaultSpec`), with its error resolved to an NVML code."""

    function: str
    error: int | None
    after_calls: int
    hang_seconds: float


@dataclass(frozen=True, slots=True)
class MigDevice:
    """One MIG device: its slot (handle index) and what `nvmlDeviceGetAttributes_v2` answers for it."""

    slot: int
    gpu_slices: int
    compute_slices: int
    memory_mib: int
    multiprocessors: int


@dataclass(frozen=True, slots=True)
class Gpu:
    """One GPU's answers."""

    index: int
    name: str
    uuid: str
    bus_id: str
    domain: int
    bus: int
    device: int
    pci_device_id: int
    architecture: int
    compute_capability: tuple[int, int] | None
    brand: int
    memory: tuple[int, int, int, int] | None  # total, reserved, free, used in bytes (v2 semantics)
    virtualization: int
    mig: tuple[int, int] | None
    mig_max: int
    mig_devices: tuple[MigDevice, ...]
    fabric: Fabric | None
    fabric_capable: bool  # Hopper or newer: the fabric query answers even without fabric info
    numa: int
    root_complex: int
    pcie_switches: tuple[str, ...]
    links: tuple[Link, ...] | None  # None: no NVLink hardware
    nvlink_version: int
    switch_links: int  # NVML_FI_DEV_NVSWITCH_CONNECTED_LINK_COUNT
    faults: tuple[Fault, ...]


@dataclass(frozen=True, slots=True)
class Topology:
    """The whole machine as one immutable graph; every fake NVML answer is read from it."""

    driver: str | None  # None: the description does not know it
    cuda: int | None
    nvml: str | None
    init_error: int | None
    missing_symbols: frozenset[str]
    gpus: tuple[Gpu, ...]
    ancestor: tuple[tuple[int, ...], ...]  # NVML topology level per pair
    nvlink_p2p: tuple[tuple[bool, ...], ...]  # P2P over NVLink per pair
    pcie_p2p: tuple[tuple[int, ...], ...]  # P2P status over PCIe per pair
    nvlink_count: tuple[tuple[int, ...], ...]  # NVLinks between a pair (NV#), physical

    def gpu_by_bus_id(self, bus_id: str) -> Gpu | None:
        """The GPU at this bus id (either domain width), if any."""
        try:
            wanted = _parse_bus_id(bus_id)[0]
        except MachineError:
            return None
        return next((g for g in self.gpus if g.bus_id == wanted), None)


def build_topology(spec: MachineSpec) -> Topology:
    """Compute the graph of a description once; `MachineError` for values NVML cannot express."""
    label = f"machine {spec.metadata.name}"
    switches = {_parse_bus_id(s.bus_id)[0]: s.visible for s in spec.nvswitches}
    bus_ids = [_parse_bus_id(g.bus_id) for g in spec.gpus]
    gpus = tuple(_build_gpu(spec, gpu, bus_ids, switches, f"{label}: gpus[{gpu.index}]") for gpu in spec.gpus)
    n = len(gpus)
    ancestor = tuple(tuple(_common_ancestor(a, b) for b in gpus) for a in gpus)
    nvlink_p2p = tuple(tuple(_nvlink_p2p(a, b) for b in gpus) for a in gpus)
    pcie_p2p = tuple(tuple(_pcie_p2p(gpus[i], gpus[j], ancestor[i][j]) for j in range(n)) for i in range(n))
    nvlink_count = tuple(tuple(_nvlink_count(a, b) for b in gpus) for a in gpus)
    driver, cuda = spec.system.driver, spec.system.cuda
    return Topology(
        driver=driver,
        cuda=cuda,
        nvml=spec.system.nvml or (f"{cuda // 1000}.{driver}" if driver and cuda else None),
        init_error=_error_code(spec.system.init_error, f"{label}: system.initError")
        if spec.system.init_error
        else None,
        missing_symbols=frozenset(spec.system.missing_symbols),
        gpus=gpus,
        ancestor=ancestor,
        nvlink_p2p=nvlink_p2p,
        pcie_p2p=pcie_p2p,
        nvlink_count=nvlink_count,
    )


def _build_gpu(
    spec: MachineSpec,
    gpu: GpuSpec,
    bus_ids: list[tuple[str, int, int, int]],
    switches: dict[str, bool],
    where: str,
) -> Gpu:
    bus_id, domain, bus, device = bus_ids[gpu.index]
    virtualization = gpu.virtualization or spec.virtualization
    architecture = _lookup(_ARCHITECTURES, gpu.architecture.lower(), f"{where}.architecture")
    links = None
    version = 0
    if gpu.nvlink is not None and gpu.nvlink.links:
        version = _lookup(_NVLINK_VERSIONS, gpu.nvlink.version, f"{where}.nvlink.version")
        links = tuple(
            _build_link(spec, entry.remote, entry.active, entry.peers, bus_ids, switches)
            for entry in gpu.nvlink.links
            for _ in range(entry.count)
        )
    memory = None
    if gpu.memory is not None:
        mib = 1 << 20
        total = gpu.memory.total_mib * mib
        reserved = gpu.memory.reserved_mib * mib
        used = gpu.memory.used_mib * mib
        memory = (total, reserved, total - reserved - used, used)
    fabric = None
    if gpu.fabric is not None:
        fabric = Fabric(
            state=_lookup(_FABRIC_STATES, gpu.fabric.state, f"{where}.fabric.state"),
            status=_error_code(gpu.fabric.status, f"{where}.fabric.status"),
            clique_id=gpu.fabric.clique_id,
            cluster_uuid=_uuid_bytes(gpu.fabric.cluster_uuid, f"{where}.fabric.clusterUuid"),
            health_mask=gpu.fabric.health_mask,
        )
    return Gpu(
        index=gpu.index,
        name=gpu.name,
        uuid=gpu.uuid,
        bus_id=bus_id,
        domain=domain,
        bus=bus,
        device=device,
        pci_device_id=gpu.pci_device_id,
        architecture=architecture,
        compute_capability=_compute_capability(gpu.compute_capability, where),
        brand=_lookup(_BRANDS, gpu.brand.lower(), f"{where}.brand"),
        memory=memory,
        virtualization=_VIRTUALIZATION[virtualization],
        mig=(int(gpu.mig.current), int(gpu.mig.pending)) if gpu.mig is not None else None,
        mig_max=gpu.mig.max_devices if gpu.mig is not None else 0,
        mig_devices=_mig_devices(gpu),
        fabric=fabric,
        fabric_capable=pynvml.NVML_DEVICE_ARCH_HOPPER <= architecture < pynvml.NVML_DEVICE_ARCH_UNKNOWN,
        numa=gpu.pcie.numa,
        root_complex=gpu.pcie.root_complex,
        pcie_switches=tuple(gpu.pcie.switches),
        links=links,
        nvlink_version=version,
        switch_links=sum(1 for link in links or () if link.active and link.remote_type == _SWITCH_TYPE),
        faults=tuple(_fault(f, f"{where}.faults") for f in gpu.faults),
    )


def _mig_devices(gpu: GpuSpec) -> tuple[MigDevice, ...]:
    """The MIG devices of a (validated) description, one per slot in listing order."""
    if gpu.mig is None:
        return ()
    devices: list[MigDevice] = []
    for instance in gpu.mig.instances:
        parsed = mig_names.parse_profile(instance.profile)
        if parsed is None:  # validate_machine refuses these; kept for a description built in code
            raise MachineError(f"gpus[{gpu.index}].mig: {instance.profile!r} is not a MIG profile")
        compute, gpu_slices, _ = parsed
        for _ in range(instance.count):
            devices.append(
                MigDevice(len(devices), gpu_slices, compute, instance.memory_mib, instance.multiprocessors)
            )
    return tuple(devices)


def _fault(spec: FaultSpec, where: str) -> Fault:
    per_gpu = {name for name, (_, sig) in _SYMBOLS.items() if sig.handles or sig.by_index}
    per_gpu |= {"nvmlDeviceGetHandleByUUID", "nvmlDeviceGetHandleByPciBusId_v2", "*"}
    if spec.function not in per_gpu:
        raise MachineError(f"{where}: {spec.function!r} is not a per-GPU C function of the fake, nor '*'")
    return Fault(
        function=spec.function,
        error=_error_code(spec.error, where) if spec.error else None,
        after_calls=spec.after_calls,
        hang_seconds=spec.hang_seconds,
    )


def _build_link(
    spec: MachineSpec,
    remote: str,
    active: bool,
    peers: list[int],
    bus_ids: list[tuple[str, int, int, int]],
    switches: dict[str, bool],
) -> Link:
    kind, _, target = remote.partition(":")
    peer = switch = None
    far = (UNIDENTIFIED_BUS_ID, 0xFFFFFFFF, 0xFF, 0xFF, 0)
    remote_type = pynvml.NVML_NVLINK_DEVICE_TYPE_UNKNOWN
    if kind == "gpu":
        peer = int(target)
        far = (*bus_ids[peer], spec.gpus[peer].pci_device_id)
        remote_type = pynvml.NVML_NVLINK_DEVICE_TYPE_GPU
    elif kind == "switch":
        switch_bus_id = _parse_bus_id(target)
        switch = switch_bus_id[0]
        if switches[switch]:
            # nvml.h: pciSubSystemId is not filled for NVLink far ends; the switch's device id is not
            # modelled either.
            far = (*switch_bus_id, 0)
            remote_type = _SWITCH_TYPE
    else:
        kind = "unknown"
    return Link(
        active=active,
        kind=kind,
        peer=peer,
        switch=switch,
        peers=frozenset(peers) if kind == "unknown" else frozenset(),
        remote_bus_id=far[0],
        remote_domain=far[1],
        remote_bus=far[2],
        remote_device=far[3],
        remote_pci_device_id=far[4],
        remote_type=remote_type,
    )


def _common_ancestor(a: Gpu, b: Gpu) -> int:
    """The PCIe level joining two GPUs (see `PcieSpec`)."""
    if a.index == b.index:
        return int(pynvml.NVML_TOPOLOGY_INTERNAL)
    if a.pcie_switches and b.pcie_switches and a.pcie_switches[-1] == b.pcie_switches[-1]:
        return int(pynvml.NVML_TOPOLOGY_SINGLE)
    if set(a.pcie_switches) & set(b.pcie_switches):
        return int(pynvml.NVML_TOPOLOGY_MULTIPLE)
    if a.numa == b.numa and a.root_complex == b.root_complex:
        return int(pynvml.NVML_TOPOLOGY_HOSTBRIDGE)
    if a.numa == b.numa:
        return int(pynvml.NVML_TOPOLOGY_NODE)
    return int(pynvml.NVML_TOPOLOGY_SYSTEM)


def _fabric_ready(gpu: Gpu) -> bool:
    fabric = gpu.fabric
    return fabric is None or (
        fabric.state == pynvml.NVML_GPU_FABRIC_STATE_COMPLETED and fabric.status == SUCCESS
    )


def _mig_on(gpu: Gpu) -> bool:
    return gpu.mig is not None and gpu.mig[0] == pynvml.NVML_DEVICE_MIG_ENABLE


def _active(gpu: Gpu) -> tuple[Link, ...]:
    return tuple(link for link in gpu.links or () if link.active)


def _direct_links(a: Gpu, b: Gpu) -> int:
    """Active links wired between two GPUs, as the busier end declares them."""
    return max(
        sum(1 for link in _active(a) if link.peer == b.index),
        sum(1 for link in _active(b) if link.peer == a.index),
    )


def _via_fabric(a: Gpu, b: Gpu) -> bool:
    """Both GPUs reach a common NVSwitch, or one names the other behind an unidentified far end."""
    switches_a = {link.switch for link in _active(a) if link.switch}
    switches_b = {link.switch for link in _active(b) if link.switch}
    if switches_a & switches_b:
        return True
    unknown_a = [link for link in _active(a) if link.kind == "unknown"]
    unknown_b = [link for link in _active(b) if link.kind == "unknown"]
    return bool(unknown_a and unknown_b) and (
        any(b.index in link.peers for link in unknown_a) or any(a.index in link.peers for link in unknown_b)
    )


def _fabric_links(gpu: Gpu) -> int:
    return sum(1 for link in _active(gpu) if link.kind != "gpu")


def _nvlink_p2p(a: Gpu, b: Gpu) -> bool:
    if a.index == b.index or _mig_on(a) or _mig_on(b):
        return False
    if _direct_links(a, b):
        return True
    # Hopper and newer route through NVSwitches only once the fabric manager has trained the fabric.
    return _via_fabric(a, b) and _fabric_ready(a) and _fabric_ready(b)


def _nvlink_count(a: Gpu, b: Gpu) -> int:
    if a.index == b.index:
        return 0
    shared = min(_fabric_links(a), _fabric_links(b)) if _via_fabric(a, b) else 0
    return _direct_links(a, b) + shared


def _pcie_p2p(a: Gpu, b: Gpu, ancestor: int) -> int:
    guest = pynvml.NVML_GPU_VIRTUALIZATION_MODE_VGPU
    if a.index == b.index or _mig_on(a) or _mig_on(b) or guest in (a.virtualization, b.virtualization):
        return int(pynvml.NVML_P2P_STATUS_NOT_SUPPORTED)
    if ancestor >= pynvml.NVML_TOPOLOGY_SYSTEM:
        return int(pynvml.NVML_P2P_STATUS_CHIPSET_NOT_SUPPORTED)
    return int(pynvml.NVML_P2P_STATUS_OK)


def _parse_bus_id(text: str) -> tuple[str, int, int, int]:
    """`0000:18:00.0` or `00000000:18:00.0` -> (`00000000:18:00.0`, domain, bus, device)."""
    try:
        domain_text, bus_text, rest = text.strip().split(":")
        device_text, _, function_text = rest.partition(".")
        domain, bus, device = int(domain_text, 16), int(bus_text, 16), int(device_text, 16)
        function = int(function_text or "0", 16)
    except ValueError:
        raise MachineError(f"bus id {text!r} is not <domain>:<bus>:<device>.<function>") from None
    return f"{domain:08X}:{bus:02X}:{device:02X}.{function:X}", domain, bus, device


def _lookup(table: dict[Any, int], key: Any, where: str) -> int:
    try:
        return table[key]
    except KeyError:
        raise MachineError(f"{where}: {key!r} is not one of {', '.join(map(str, table))}") from None


def _error_code(name: str, where: str) -> int:
    """An NVML return name (`SUCCESS`, `GPU_IS_LOST`, ...) as its code."""
    if name.upper() == "SUCCESS":
        return int(SUCCESS)
    code = getattr(pynvml, f"NVML_ERROR_{name.upper()}", None)
    if not isinstance(code, int):
        raise MachineError(f"{where}: {name!r} is not an NVML error name (e.g. GPU_IS_LOST)")
    return code


def _uuid_bytes(text: str, where: str) -> bytes:
    try:
        return uuid.UUID(text).bytes
    except ValueError:
        raise MachineError(f"{where}: {text!r} is not a UUID") from None


def _compute_capability(text: str | None, where: str) -> tuple[int, int] | None:
    if text is None:
        return None
    major, _, minor = text.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise MachineError(f"{where}.computeCapability: {text!r} is not <major>.<minor>")
    return int(major), int(minor)


class _Return(Exception):
    """Raised inside a fake C function to return an NVML code at once."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True, slots=True)
class _Signature:
    """How a C function's arguments are checked before its body runs."""

    handles: int = 0  # leading device handles, resolved to `Gpu`
    ints: tuple[int, ...] = ()  # argument positions converted as ctypes converts a Python int
    by_index: bool = False  # the first argument is a GPU index, resolved to `Gpu`
    needs_init: bool = True
    mig: bool = False  # the first handle may be a MIG device's: the method also gets it (or None)


_SYMBOLS: dict[str, tuple[str, _Signature]] = {}
_Impl = Callable[..., Any]


def _c(name: str, **signature: Any) -> Callable[[_Impl], _Impl]:
    """Register the decorated method as the fake's C function `name`."""

    def register(method: _Impl) -> _Impl:
        _SYMBOLS[name] = (method.__name__, _Signature(**signature))
        return method

    return register


class _Symbol:
    """One exported C function: callable like a ctypes foreign function, with `restype`/`argtypes`."""

    def __init__(self, lib: FakeNvmlLib, name: str, method: _Impl, signature: _Signature) -> None:
        self.__name__ = name
        self.restype: Any = ctypes.c_int
        self.argtypes: Any = None
        self._lib = lib
        self._method = method
        self._signature = signature

    def __call__(self, *args: Any) -> Any:
        return self._lib._dispatch(self.__name__, self._method, self._signature, list(args))


def _to_int(value: Any, position: int) -> int:
    """Convert an argument as a ctypes call without argtypes does, or raise `ctypes.ArgumentError`."""
    if isinstance(value, ctypes._SimpleCData):
        value = value.value
    if not isinstance(value, int):
        raise ctypes.ArgumentError(
            f"argument {position}: TypeError: Don't know how to convert parameter {position}"
        )
    if not -(1 << 63) <= value < 1 << 64:
        raise ctypes.ArgumentError(f"argument {position}: OverflowError: int too long to convert")
    return value & 0xFFFFFFFF  # the C side declares these `unsigned int`


def _out(ref: Any) -> Any:
    """The object behind an out-parameter (`byref(x)` or `pointer(x)`); NULL is an invalid argument."""
    target = getattr(ref, "_obj", None)
    if target is not None:
        return target
    if isinstance(ref, ctypes._Pointer) and ref:
        return ref.contents
    raise _Return(pynvml.NVML_ERROR_INVALID_ARGUMENT)


def _write_str(buffer: Any, size: Any, text: str) -> None:
    data = text.encode()
    if len(data) + 1 > _to_int(size, 3):
        raise _Return(pynvml.NVML_ERROR_INSUFFICIENT_SIZE)
    buffer.value = data


_installed_lock = threading.Lock()
_installed: FakeNvmlLib | None = None


class FakeNvmlLib:
    """`libnvidia-ml.so.1` answered from a `Topology`; install it with `install()` or `installed()`.

    `calls` counts calls per C symbol. A fresh instance starts uninitialised with fresh fault counters.
    """

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.calls: Counter[str] = Counter()
        self._init_count = 0
        self._base = next(_instances) << 24
        self._fault_hits: Counter[tuple[int, int]] = Counter()
        self._release = threading.Event()
        self._hanging: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._saved: dict[str, Any] | None = None
        self._symbols = {
            name: _Symbol(self, name, getattr(self, method), signature)
            for name, (method, signature) in _SYMBOLS.items()
            if name not in topology.missing_symbols
        }

    def __getattr__(self, name: str) -> _Symbol:
        symbols = self.__dict__.get("_symbols", {})
        if name in symbols:
            return symbols[name]  # type: ignore[no-any-return]
        raise AttributeError(name)

    @property
    def initialized(self) -> bool:
        """Whether NVML is initialised (inits outnumber shutdowns)."""
        return self._init_count > 0

    # Installing into pynvml

    def install(self) -> None:
        """Make the real `pynvml` module use this library; `uninstall()` restores what was there."""
        global _installed
        with _installed_lock:
            if _installed is not None:
                raise RuntimeError("a fake NVML is already installed into pynvml")
            _installed = self
        self._saved = {
            "nvmlLib": pynvml.nvmlLib,
            "cache": dict(pynvml._nvmlGetFunctionPointer_cache),
            "refcount": pynvml._nvmlLib_refcount,
            "CDLL": pynvml.CDLL,
            "strings": dict(pynvml.NVMLError._errcode_to_string),
        }
        library_missing = self.topology.init_error == pynvml.NVML_ERROR_LIBRARY_NOT_FOUND
        # Without the library, nvmlLib stays None and the binding's own loader fails as on a node without
        # the driver; otherwise the fake is the loaded library.
        pynvml.nvmlLib = None if library_missing else self
        pynvml.CDLL = self._load
        pynvml._nvmlGetFunctionPointer_cache.clear()
        pynvml._nvmlLib_refcount = 0

    def uninstall(self) -> None:
        """Wake hung calls, let their threads finish, and restore the `pynvml` module."""
        global _installed
        saved = self._saved
        if saved is None:
            return
        self._release.set()
        with self._lock:
            hanging = [t for t in self._hanging if t is not threading.current_thread()]
        for thread in hanging:
            thread.join(timeout=5.0)
        pynvml.nvmlLib = saved["nvmlLib"]
        pynvml.CDLL = saved["CDLL"]
        pynvml._nvmlGetFunctionPointer_cache.clear()
        pynvml._nvmlGetFunctionPointer_cache.update(saved["cache"])
        pynvml._nvmlLib_refcount = saved["refcount"]
        pynvml.NVMLError._errcode_to_string.clear()
        pynvml.NVMLError._errcode_to_string.update(saved["strings"])
        self._saved = None
        with _installed_lock:
            _installed = None

    def _load(self, name: str, *args: Any, **kwargs: Any) -> FakeNvmlLib:
        """Stands in for `ctypes.CDLL` inside pynvml."""
        if self.topology.init_error == pynvml.NVML_ERROR_LIBRARY_NOT_FOUND:
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")
        return self

    # Dispatch

    def _dispatch(self, name: str, method: _Impl, signature: _Signature, args: list[Any]) -> Any:
        self.calls[name] += 1
        for position in signature.ints:
            args[position] = _to_int(args[position], position + 1)
        try:
            if signature.needs_init and not self._init_count:
                return int(pynvml.NVML_ERROR_UNINITIALIZED)
            devices = [self._device(handle) for handle in args[: signature.handles]]
            # Only functions declared for MIG devices take one, and only as their first handle.
            if any(device is not None for _, device in devices[1 if signature.mig else 0 :]):
                return int(pynvml.NVML_ERROR_INVALID_ARGUMENT)
            gpus = [gpu for gpu, _ in devices]
            mig_device = [devices[0][1]] if signature.mig else []
            if signature.by_index:
                if args[0] >= len(self.topology.gpus):
                    return int(pynvml.NVML_ERROR_INVALID_ARGUMENT)
                gpus = [self.topology.gpus[args.pop(0)]]
            for gpu in gpus:
                self._inject(name, gpu)
            return method(*gpus, *mig_device, *args[signature.handles :])
        except _Return as ret:
            return ret.code

    def _handle(self, gpu: Gpu) -> int:
        return self._base + _HANDLE_STRIDE * (gpu.index + 1)

    def _device(self, handle: Any) -> tuple[Gpu, MigDevice | None]:
        """The GPU a handle names, and the MIG device when it is one (its slot + 1 past the GPU's)."""
        if isinstance(handle, ctypes._Pointer):
            address = ctypes.cast(handle, ctypes.c_void_p).value or 0
        elif isinstance(handle, int):
            address = handle
        else:
            raise _Return(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        index, rest = divmod(address - self._base, _HANDLE_STRIDE)
        if not 1 <= index <= len(self.topology.gpus):
            raise _Return(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        gpu = self.topology.gpus[index - 1]
        if not rest:
            return gpu, None
        if rest > len(gpu.mig_devices):
            raise _Return(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return gpu, gpu.mig_devices[rest - 1]

    def _inject(self, name: str, gpu: Gpu) -> None:
        """Apply the GPU's faults for this call: count, maybe hang, maybe fail."""
        for number, fault in enumerate(gpu.faults):
            if fault.function not in (name, "*"):
                continue
            key = (gpu.index, number)
            with self._lock:
                seen = self._fault_hits[key]
                self._fault_hits[key] += 1
            if seen < fault.after_calls:
                continue
            if fault.hang_seconds > 0:
                self._hang(fault.hang_seconds)
            if fault.error is not None:
                raise _Return(fault.error)

    def _hang(self, seconds: float) -> None:
        thread = threading.current_thread()
        with self._lock:
            self._hanging.add(thread)
        try:
            self._release.wait(seconds)
        finally:
            with self._lock:
                self._hanging.discard(thread)

    def _link(self, gpu: Gpu, link: int) -> Link:
        if gpu.links is None:
            raise _Return(pynvml.NVML_ERROR_NOT_SUPPORTED)
        if link >= len(gpu.links):
            raise _Return(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return gpu.links[link]

    # Library and system

    @_c("nvmlInitWithFlags", ints=(0,), needs_init=False)
    def _init_with_flags(self, flags: int) -> int:
        if self.topology.init_error is not None:
            return self.topology.init_error
        with self._lock:
            self._init_count += 1
        return int(SUCCESS)

    @_c("nvmlInit_v2", needs_init=False)
    def _init_v2(self) -> int:
        return int(self._init_with_flags(0))

    @_c("nvmlShutdown")
    def _shutdown(self) -> int:
        with self._lock:
            self._init_count -= 1
        return int(SUCCESS)

    @_c("nvmlErrorString", ints=(0,), needs_init=False)
    def _error_string(self, code: int) -> bytes:
        text = _ERROR_STRINGS.get(code) or pynvml.NVMLError._errcode_to_string.get(code)
        return (text or "Unknown Error").encode()

    @_c("nvmlSystemGetDriverVersion")
    def _driver_version(self, buffer: Any, size: Any) -> int:
        if self.topology.driver is None:
            return int(pynvml.NVML_ERROR_NOT_SUPPORTED)
        _write_str(buffer, size, self.topology.driver)
        return int(SUCCESS)

    @_c("nvmlSystemGetNVMLVersion")
    def _nvml_version(self, buffer: Any, size: Any) -> int:
        if self.topology.nvml is None:
            return int(pynvml.NVML_ERROR_NOT_SUPPORTED)
        _write_str(buffer, size, self.topology.nvml)
        return int(SUCCESS)

    @_c("nvmlSystemGetCudaDriverVersion")
    def _cuda_version(self, ref: Any) -> int:
        if self.topology.cuda is None:
            return int(pynvml.NVML_ERROR_NOT_SUPPORTED)
        _out(ref).value = self.topology.cuda
        return int(SUCCESS)

    @_c("nvmlSystemGetCudaDriverVersion_v2")
    def _cuda_version_v2(self, ref: Any) -> int:
        return int(self._cuda_version(ref))

    @_c("nvmlDeviceGetCount_v2")
    def _count(self, ref: Any) -> int:
        _out(ref).value = len(self.topology.gpus)
        return int(SUCCESS)

    # Handles

    @_c("nvmlDeviceGetHandleByIndex_v2", ints=(0,), by_index=True)
    def _handle_by_index(self, gpu: Gpu, ref: Any) -> int:
        ctypes.c_void_p.from_buffer(_out(ref)).value = self._handle(gpu)
        return int(SUCCESS)

    @_c("nvmlDeviceGetHandleByUUID")
    def _handle_by_uuid(self, text: Any, ref: Any) -> int:
        wanted = (getattr(text, "value", None) or b"").decode()
        gpu = next((g for g in self.topology.gpus if g.uuid == wanted), None)
        if gpu is None:
            return int(pynvml.NVML_ERROR_NOT_FOUND)
        self._inject("nvmlDeviceGetHandleByUUID", gpu)
        return int(self._handle_by_index(gpu, ref))

    @_c("nvmlDeviceGetHandleByPciBusId_v2")
    def _handle_by_bus_id(self, text: Any, ref: Any) -> int:
        gpu = self.topology.gpu_by_bus_id((getattr(text, "value", None) or b"").decode())
        if gpu is None:
            return int(pynvml.NVML_ERROR_NOT_FOUND)
        self._inject("nvmlDeviceGetHandleByPciBusId_v2", gpu)
        return int(self._handle_by_index(gpu, ref))

    # Identity

    @_c("nvmlDeviceGetIndex", handles=1)
    def _index(self, gpu: Gpu, ref: Any) -> int:
        _out(ref).value = gpu.index
        return int(SUCCESS)

    @_c("nvmlDeviceGetMinorNumber", handles=1)
    def _minor(self, gpu: Gpu, ref: Any) -> int:
        return int(self._index(gpu, ref))

    @_c("nvmlDeviceGetName", handles=1)
    def _name(self, gpu: Gpu, buffer: Any, size: Any) -> int:
        _write_str(buffer, size, gpu.name)
        return int(SUCCESS)

    @_c("nvmlDeviceGetUUID", handles=1)
    def _uuid(self, gpu: Gpu, buffer: Any, size: Any) -> int:
        _write_str(buffer, size, gpu.uuid)
        return int(SUCCESS)

    @_c("nvmlDeviceGetPciInfo_v3", handles=1)
    def _pci_info(self, gpu: Gpu, ref: Any) -> int:
        info = _out(ref)
        info.busId = gpu.bus_id
        info.busIdLegacy = gpu.bus_id[4:]
        info.domain, info.bus, info.device = gpu.domain, gpu.bus, gpu.device
        info.pciDeviceId = gpu.pci_device_id
        return int(SUCCESS)

    @_c("nvmlDeviceGetArchitecture", handles=1)
    def _architecture(self, gpu: Gpu, ref: Any) -> int:
        _out(ref).value = gpu.architecture
        return int(SUCCESS)

    @_c("nvmlDeviceGetCudaComputeCapability", handles=1)
    def _compute_capability(self, gpu: Gpu, major: Any, minor: Any) -> int:
        if gpu.compute_capability is None:
            return int(pynvml.NVML_ERROR_NOT_SUPPORTED)
        _out(major).value, _out(minor).value = gpu.compute_capability
        return int(SUCCESS)

    @_c("nvmlDeviceGetBrand", handles=1)
    def _brand(self, gpu: Gpu, ref: Any) -> int:
        _out(ref).value = gpu.brand
        return int(SUCCESS)

    # Memory

    @_c("nvmlDeviceGetMemoryInfo", handles=1)
    def _memory_v1(self, gpu: Gpu, ref: Any) -> int:
        if gpu.memory is None:
            return int(pynvml.NVML_ERROR_NOT_SUPPORTED)
        total, reserved, free, used = gpu.memory
        info = _out(ref)
        # Drivers since 510.39 count reserved memory as used in the v1 struct (gpustat #141).
        info.total, info.free, info.used = total, free, used + reserved
        return int(SUCCESS)

    @_c("nvmlDeviceGetMemoryInfo_v2", handles=1)
    def _memory_v2(self, gpu: Gpu, ref: Any) -> int:
        info = _out(ref)
        if getattr(info, "version", None) != pynvml.nvmlMemory_v2:
            return int(pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH)
        if gpu.memory is None:
            return int(pynvml.NVML_ERROR_NOT_SUPPORTED)
        info.total, info.reserved, info.free, info.used = gpu.memory
        return int(SUCCESS)

    # Virtualization, MIG, fabric, NUMA

    @_c("nvmlDeviceGetVirtualizationMode", handles=1)
    def _virtualization(self, gpu: Gpu, ref: Any) -> int:
        _out(ref).value = gpu.virtualization
        return int(SUCCESS)

    @_c("nvmlDeviceGetHostVgpuMode", handles=1)
    def _host_vgpu_mode(self, gpu: Gpu, ref: Any) -> int:
        if gpu.virtualization != pynvml.NVML_GPU_VIRTUALIZATION_MODE_HOST_VGPU:
            return int(pynvml.NVML_ERROR_NOT_SUPPORTED)
        sriov = gpu.architecture >= pynvml.NVML_DEVICE_ARCH_AMPERE
        _out(ref).value = pynvml.NVML_HOST_VGPU_MODE_SRIOV if sriov else 0
        return int(SUCCESS)

    @_c("nvmlDeviceGetMigMode", handles=1)
    def _mig_mode(self, gpu: Gpu, current: Any, pending: Any) -> int:
        mode = gpu.mig
        if mode is None:
            if gpu.virtualization != pynvml.NVML_GPU_VIRTUALIZATION_MODE_VGPU:
                return int(pynvml.NVML_ERROR_NOT_SUPPORTED)
            mode = (pynvml.NVML_DEVICE_MIG_DISABLE, pynvml.NVML_DEVICE_MIG_DISABLE)
        _out(current).value, _out(pending).value = mode
        return int(SUCCESS)

    @_c("nvmlDeviceIsMigDeviceHandle", handles=1, mig=True)
    def _is_mig_handle(self, gpu: Gpu, device: MigDevice | None, ref: Any) -> int:
        _out(ref).value = int(device is not None)
        return int(SUCCESS)

    @_c("nvmlDeviceGetMaxMigDeviceCount", handles=1)
    def _max_mig_devices(self, gpu: Gpu, ref: Any) -> int:
        if gpu.mig is None:
            return int(pynvml.NVML_ERROR_NOT_SUPPORTED)
        _out(ref).value = gpu.mig_max
        return int(SUCCESS)

    @_c("nvmlDeviceGetMigDeviceHandleByIndex", handles=1, ints=(1,))
    def _mig_handle_by_index(self, gpu: Gpu, index: int, ref: Any) -> int:
        if gpu.mig is None:
            return int(pynvml.NVML_ERROR_NOT_SUPPORTED)
        enabled = gpu.mig[0] == pynvml.NVML_DEVICE_MIG_ENABLE
        if not enabled or index >= len(gpu.mig_devices):
            return int(pynvml.NVML_ERROR_NOT_FOUND)
        ctypes.c_void_p.from_buffer(_out(ref)).value = self._handle(gpu) + index + 1
        return int(SUCCESS)

    @_c("nvmlDeviceGetDeviceHandleFromMigDeviceHandle", handles=1, mig=True)
    def _parent_of_mig(self, gpu: Gpu, device: MigDevice | None, ref: Any) -> int:
        if device is None:
            return int(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        ctypes.c_void_p.from_buffer(_out(ref)).value = self._handle(gpu)
        return int(SUCCESS)

    @_c("nvmlDeviceGetAttributes_v2", handles=1, mig=True)
    def _attributes(self, gpu: Gpu, device: MigDevice | None, ref: Any) -> int:
        if device is None:
            return int(pynvml.NVML_ERROR_NOT_SUPPORTED)
        attributes = _out(ref)
        attributes.multiprocessorCount = device.multiprocessors
        attributes.gpuInstanceSliceCount = device.gpu_slices
        attributes.computeInstanceSliceCount = device.compute_slices
        attributes.memorySizeMB = device.memory_mib
        return int(SUCCESS)

    @_c("nvmlDeviceGetGpuFabricInfoV", handles=1)
    def _fabric_info(self, gpu: Gpu, ref: Any) -> int:
        info = _out(ref)
        version = getattr(info, "version", None)
        if version not in (pynvml.nvmlGpuFabricInfo_v2, pynvml.nvmlGpuFabricInfo_v3):
            return int(pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH)
        fabric = gpu.fabric
        if fabric is None:
            if not gpu.fabric_capable:
                return int(pynvml.NVML_ERROR_NOT_SUPPORTED)
            fabric = Fabric(
                state=pynvml.NVML_GPU_FABRIC_STATE_NOT_SUPPORTED,
                status=pynvml.NVML_ERROR_NOT_SUPPORTED,
                clique_id=0,
                cluster_uuid=bytes(16),
                health_mask=0,
            )
        for position, byte in enumerate(fabric.cluster_uuid):
            info.clusterUuid[position] = byte
        info.status, info.cliqueId, info.state = fabric.status, fabric.clique_id, fabric.state
        info.healthMask = fabric.health_mask
        if version == pynvml.nvmlGpuFabricInfo_v3:
            info.healthSummary = _health_summary(fabric)
        return int(SUCCESS)

    @_c("nvmlDeviceGetNumaNodeId", handles=1)
    def _numa_node_id(self, gpu: Gpu, ref: Any) -> int:
        return int(pynvml.NVML_ERROR_NOT_SUPPORTED)

    @_c("nvmlDeviceGetMemoryAffinity", handles=1, ints=(1, 3))
    def _memory_affinity(self, gpu: Gpu, size: int, ref: Any, scope: int) -> int:
        if size < 1 or scope not in (pynvml.NVML_AFFINITY_SCOPE_NODE, pynvml.NVML_AFFINITY_SCOPE_SOCKET):
            return int(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        word, bit = divmod(gpu.numa, 64)
        if word >= size:
            return int(pynvml.NVML_ERROR_INSUFFICIENT_SIZE)
        _out(ref)[word] = 1 << bit
        return int(SUCCESS)

    @_c("nvmlDeviceGetFieldValues", handles=1, ints=(1,))
    def _field_values(self, gpu: Gpu, count: int, ref: Any) -> int:
        values = _out(ref)
        if not 0 < count <= len(values):
            return int(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        answers = {
            pynvml.NVML_FI_DEV_NVLINK_LINK_COUNT: len(gpu.links or ()),
            pynvml.NVML_FI_DEV_NVSWITCH_CONNECTED_LINK_COUNT: gpu.switch_links,
        }
        for value in values[:count]:
            if gpu.links is None or value.fieldId not in answers:
                value.nvmlReturn = pynvml.NVML_ERROR_NOT_SUPPORTED
                continue
            value.valueType = pynvml.NVML_VALUE_TYPE_UNSIGNED_INT
            value.value.uiVal = answers[value.fieldId]
            value.nvmlReturn = SUCCESS
        return int(SUCCESS)

    # NVLink

    @_c("nvmlDeviceGetNvLinkState", handles=1, ints=(1,))
    def _nvlink_state(self, gpu: Gpu, link: int, ref: Any) -> int:
        active = self._link(gpu, link).active
        _out(ref).value = pynvml.NVML_FEATURE_ENABLED if active else pynvml.NVML_FEATURE_DISABLED
        return int(SUCCESS)

    @_c("nvmlDeviceGetNvLinkVersion", handles=1, ints=(1,))
    def _nvlink_version(self, gpu: Gpu, link: int, ref: Any) -> int:
        self._link(gpu, link)
        _out(ref).value = gpu.nvlink_version
        return int(SUCCESS)

    @_c("nvmlDeviceGetNvLinkCapability", handles=1, ints=(1, 2))
    def _nvlink_capability(self, gpu: Gpu, link: int, capability: int, ref: Any) -> int:
        if gpu.links is None:
            return int(pynvml.NVML_ERROR_NOT_SUPPORTED)
        if link >= _MAX_LINKS or capability not in _NVLINK_CAPS:
            return int(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        _out(ref).value = 1
        return int(SUCCESS)

    @_c("nvmlDeviceGetNvLinkRemotePciInfo_v2", handles=1, ints=(1,))
    def _nvlink_remote_pci(self, gpu: Gpu, link: int, ref: Any) -> int:
        far = self._link(gpu, link)
        info = _out(ref)
        info.busId = far.remote_bus_id
        info.busIdLegacy = far.remote_bus_id[4:]
        info.domain, info.bus, info.device = far.remote_domain, far.remote_bus, far.remote_device
        info.pciDeviceId = far.remote_pci_device_id
        return int(SUCCESS)

    @_c("nvmlDeviceGetNvLinkRemoteDeviceType", handles=1, ints=(1,))
    def _nvlink_remote_type(self, gpu: Gpu, link: int, ref: Any) -> int:
        _out(ref).value = self._link(gpu, link).remote_type
        return int(SUCCESS)

    # Pairs

    @_c("nvmlDeviceGetP2PStatus", handles=2, ints=(2,))
    def _p2p_status(self, a: Gpu, b: Gpu, index: int, ref: Any) -> int:
        if a.index == b.index:
            return int(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        ok = int(pynvml.NVML_P2P_STATUS_OK)
        nvlink = self.topology.nvlink_p2p[a.index][b.index]
        pcie = self.topology.pcie_p2p[a.index][b.index]
        not_supported = int(pynvml.NVML_P2P_STATUS_NOT_SUPPORTED)
        if index == pynvml.NVML_P2P_CAPS_INDEX_NVLINK:
            status = ok if nvlink else not_supported
        elif index in (_P2P_INDEX_READ, pynvml.NVML_P2P_CAPS_INDEX_WRITE):
            status = ok if nvlink else pcie
        elif index == pynvml.NVML_P2P_CAPS_INDEX_ATOMICS:
            status = ok if nvlink else not_supported
        elif index == pynvml.NVML_P2P_CAPS_INDEX_PCI:
            status = pcie
        else:
            return int(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        _out(ref).value = status
        return int(SUCCESS)

    @_c("nvmlDeviceGetTopologyCommonAncestor", handles=2)
    def _common_ancestor(self, a: Gpu, b: Gpu, ref: Any) -> int:
        _out(ref).value = self.topology.ancestor[a.index][b.index]
        return int(SUCCESS)


def _health_summary(fabric: Fabric) -> int:
    if fabric.state != pynvml.NVML_GPU_FABRIC_STATE_COMPLETED:
        return int(pynvml.NVML_GPU_FABRIC_HEALTH_SUMMARY_NOT_SUPPORTED)
    if fabric.status != SUCCESS:
        return int(pynvml.NVML_GPU_FABRIC_HEALTH_SUMMARY_UNHEALTHY)
    return int(pynvml.NVML_GPU_FABRIC_HEALTH_SUMMARY_HEALTHY)


@contextmanager
def installed(machine: MachineSpec | Topology) -> Iterator[FakeNvmlLib]:
    """Install a fake built from `machine` into `pynvml` for the duration of the block."""
    topology = machine if isinstance(machine, Topology) else build_topology(machine)
    fake = FakeNvmlLib(topology)
    fake.install()
    try:
        yield fake
    finally:
        fake.uninstall()
