"""The GPU probe: what NVML says about the node's GPUs, their NVLinks, and how the GPUs reach each other.

`probe_gpu` receives the `pynvml` module as a parameter: the real binding, or the same module with the
fake library installed (`simulation.nvml.simulated_nvml`). It reads and returns facts; it never judges.

NVML can hang (a GPU fallen off the bus), so the whole probe runs in a daemon worker thread and the caller
gets an answer by the deadline whatever NVML does. Queries NVML cannot answer (`NotSupported`,
`FunctionNotFound` on an older driver, or any other per-query error) leave the field `None` and name it in
`GpuInfo.unknown` (field name -> "<code>: <text>"; per-link fields as `nvlinks.<field>`, first reason
kept). A GPU that is lost (`GpuIsLost`, `GpuNotFound`) gets `GpuInfo.error` while the other GPUs still
answer; only an NVML that cannot start at all sets `GpuFacts.nvml_error`.

NVLink pairing (reference nvml.md §5). On NVSwitch systems a link's far end is a switch, never the peer
GPU, so two GPUs are NVLink-connected when either
  (a) an active link of one ends at the other's bus id (direct links; P2P status must not say otherwise), or
  (b) both have active links to NVSwitches or to far ends NVML cannot identify (switches hidden from a VM),
      and `nvmlDeviceGetP2PStatus(..., NVLINK)` is OK.
A pair's NVLink count is its direct links plus, when both reach the same switch fabric, the smaller of the
two GPUs' fabric link counts: an HGX H100 pair shows 18, like nvidia-smi's NV18.

Cliques partition the GPUs that answered: repeatedly take the largest maximal clique of the NVLink graph
among the GPUs not yet placed (ties: the one whose sorted indices compare lowest), until every GPU is placed;
a GPU without NVLink peers is a clique of one. When connectivity is not transitive (0-1 and 1-2 linked, 0-2
not), this keeps each GPU in exactly one clique: [[0, 1], [2]].
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from nimdoctor.probes import mig
from nimdoctor.probes.deadline import DeadlineExceeded, run_with_deadline
from nimdoctor.report import (
    FabricFacts,
    GpuFacts,
    GpuInfo,
    GpuPair,
    MigInstance,
    NvlinkFacts,
    NvlinkTopology,
    NvmlError,
)

# Literal NVML values, so that a wrong constant in one binding version cannot leak in. The binding's
# NVML_P2P_CAPS_INDEX_READ is the tuple (0,) (a stray comma), which ctypes rejects.
P2P_CAPS_INDEX_NVLINK = 2
P2P_STATUS_OK = 0
FIELD_NVLINK_LINK_COUNT = 91
FIELD_NVSWITCH_CONNECTED_LINK_COUNT = 147
AFFINITY_SCOPE_NODE = 0
MAX_LINKS_FALLBACK = 18  # NVML_NVLINK_MAX_LINKS in bindings 12.x, if the module lacks the constant
UNIDENTIFIED_DOMAIN = "FFFFFFFF"

ARCHITECTURES = {
    2: "kepler",
    3: "maxwell",
    4: "pascal",
    5: "volta",
    6: "turing",
    7: "ampere",
    8: "ada",
    9: "hopper",
    10: "blackwell",
    13: "rubin",
}
VIRTUALIZATION_MODES = {0: "none", 1: "passthrough", 2: "vgpu", 3: "host_vgpu", 4: "host_vsga"}
REMOTE_TYPES = {0: "gpu", 1: "ibmnpu", 2: "switch", 0xFF: "unknown"}
# nvmlNvlinkVersion_t is an enum, not the generation: A100 answers 5, which is NVLink 3.1.
NVLINK_VERSIONS = {1: "1.0", 2: "2.0", 3: "2.2", 4: "3.0", 5: "3.1", 6: "4.0", 7: "5.0", 8: "6.0"}
FABRIC_STATES = {0: "not_supported", 1: "not_started", 2: "in_progress", 3: "completed"}
# nvmlGpuTopologyLevel_t -> nvidia-smi topo -m letters; INTERNAL (two GPUs on one board) prints as PIX.
TOPOLOGY_LEVELS = {0: "PIX", 10: "PIX", 20: "PXB", 30: "PHB", 40: "NODE", 50: "SYS"}
VALUE_FIELDS = {1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}

_DEVICE_GONE = frozenset({"GpuIsLost", "GpuNotFound"})
_FALLBACK_TO_V1 = frozenset({"FunctionNotFound", "NotSupported"})


class _Cancelled(Exception):
    """The deadline passed: the worker makes no further NVML calls."""


class _GpuGone(Exception):
    """The GPU stopped answering (lost or gone from the bus)."""


def _error_code(exc: BaseException) -> str:
    """The NVML error's class suffix (`NVMLError_GpuIsLost` -> `GpuIsLost`), the code `nvml_error` carries."""
    name = type(exc).__name__
    if name.startswith("NVMLError_"):
        return name.removeprefix("NVMLError_")
    return f"NVMLError{getattr(exc, 'value', '')}"


def _reason(exc: BaseException) -> str:
    return f"{_error_code(exc)}: {exc}"


class _Session:
    """Makes the NVML calls of one probe: counts them, knows the one in flight, stops once cancelled."""

    def __init__(self, nvml: Any) -> None:
        self.nvml = nvml
        self.calls = 0
        self.where = ""
        self.in_flight: str | None = None
        self.cancelled = threading.Event()

    def call(self, function: str, *args: Any, **kwargs: Any) -> Any:
        if self.cancelled.is_set():
            raise _Cancelled
        return self._call(function, *args, **kwargs)

    def shutdown(self) -> None:
        """`nvmlShutdown` even after cancellation: a hung call that returns late still balances init."""
        with contextlib.suppress(self.nvml.NVMLError):
            self._call("nvmlShutdown")

    def _call(self, function: str, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.in_flight = f"{function} ({self.where})" if self.where else function
        result = getattr(self.nvml, function)(*args, **kwargs)
        self.in_flight = None
        return result


@dataclass
class _Gpu:
    """One GPU while it is read: the facts so far, and what the pairing needs."""

    index: int
    fields: dict[str, Any] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)
    nvlinks: list[NvlinkFacts] = field(default_factory=list)
    handle: Any = None
    switch_links: int | None = None  # field 147
    error: str | None = None

    def info(self) -> GpuInfo:
        extra: dict[str, Any] = {"error": self.error} if self.error is not None else {}
        return GpuInfo(index=self.index, nvlinks=self.nvlinks, unknown=self.unknown, **self.fields, **extra)


class _Reader:
    """Reads one GPU; turns per-query failures into `unknown` entries and a lost GPU into `_GpuGone`."""

    def __init__(self, session: _Session, gpu: _Gpu) -> None:
        self.session = session
        self.nvml = session.nvml
        self.gpu = gpu

    def ask(self, names: Iterable[str], function: str, *args: Any, **kwargs: Any) -> Any:
        """The answer, or `None` with each of `names` recorded as unknown (first reason kept)."""
        try:
            return self.session.call(function, *args, **kwargs)
        except self.nvml.NVMLError as exc:
            self.check_gone(exc)
            for name in names:
                self.gpu.unknown.setdefault(name, _reason(exc))
            return None

    def check_gone(self, exc: BaseException) -> None:
        if _error_code(exc) in _DEVICE_GONE:
            raise _GpuGone(_reason(exc)) from exc

    def read(self) -> None:
        h = self.gpu.handle
        put = self.gpu.fields
        put["name"] = self.ask(["name"], "nvmlDeviceGetName", h)
        put["uuid"] = self.ask(["uuid"], "nvmlDeviceGetUUID", h)
        pci = self.ask(["bus_id", "pci_device_id"], "nvmlDeviceGetPciInfo", h)
        if pci is not None:
            put["bus_id"] = pci.busId
            put["pci_device_id"] = f"0x{pci.pciDeviceId:08X}"
        self.read_memory()
        arch = self.ask(["architecture"], "nvmlDeviceGetArchitecture", h)
        put["architecture"] = self.lookup("architecture", ARCHITECTURES, arch)
        cc = self.ask(["compute_capability"], "nvmlDeviceGetCudaComputeCapability", h)
        put["compute_capability"] = f"{cc[0]}.{cc[1]}" if cc is not None else None
        mode = self.ask(["virtualization_mode"], "nvmlDeviceGetVirtualizationMode", h)
        put["virtualization_mode"] = self.lookup("virtualization_mode", VIRTUALIZATION_MODES, mode)
        mig = self.ask(["mig_enabled", "mig_pending"], "nvmlDeviceGetMigMode", h)
        if mig is not None:
            put["mig_enabled"], put["mig_pending"] = mig[0] == 1, mig[1] == 1
            if put["mig_enabled"]:
                put["mig_instances"] = self.read_mig()
        put["fabric"] = self.read_fabric()
        put["numa_node"] = self.read_numa()
        self.read_nvlinks()

    def read_mig(self) -> list[MigInstance]:
        """MIG devices by profile: each device's attributes name its profile (`nimdoctor.probes.mig`)."""
        h = self.gpu.handle
        total = self.gpu.fields.get("memory_total_bytes")
        if total is None:
            self.gpu.unknown["mig_instances"] = (
                "the GPU's memory is unknown, so its MIG profiles cannot be named"
            )
            return []
        slots = self.ask(["mig_instances"], "nvmlDeviceGetMaxMigDeviceCount", h)
        found: Counter[tuple[str, int]] = Counter()
        for index in range(slots or 0):
            try:
                device = self.session.call("nvmlDeviceGetMigDeviceHandleByIndex", h, index)
            except self.nvml.NVMLError as exc:
                self.check_gone(exc)
                if _error_code(exc) != "NotFound":  # an empty slot is NOT_FOUND
                    self.gpu.unknown.setdefault("mig_instances", _reason(exc))
                continue
            attributes = self.ask(["mig_instances"], "nvmlDeviceGetAttributes", device)
            if attributes is None:
                continue
            name = mig.profile_name(
                attributes.gpuInstanceSliceCount,
                attributes.computeInstanceSliceCount,
                attributes.memorySizeMB,
                total,
            )
            found[name, attributes.memorySizeMB] += 1
        return [
            MigInstance(profile=name, memory_bytes=memory_mib * mig.MIB, count=count)
            for (name, memory_mib), count in sorted(found.items(), key=lambda item: (item[0][1], item[0][0]))
        ]

    def lookup(self, name: str, table: dict[int, str], code: int | None) -> str | None:
        if code is None:
            return None
        if code not in table:
            self.gpu.unknown[name] = f"unrecognised NVML value {code}"
            return None
        return table[code]

    def read_memory(self) -> None:
        h = self.gpu.handle
        names = ("memory_total_bytes", "memory_reserved_bytes", "memory_free_bytes")
        version = getattr(self.nvml, "nvmlMemory_v2", None)
        if version is not None:
            try:
                memory = self.session.call("nvmlDeviceGetMemoryInfo", h, version=version)
            except self.nvml.NVMLError as exc:
                self.check_gone(exc)
                if _error_code(exc) not in _FALLBACK_TO_V1:
                    self.gpu.unknown.update(dict.fromkeys(names, _reason(exc)))
                    return
                v2_reason = _reason(exc)
            else:
                self.gpu.fields.update(
                    memory_total_bytes=memory.total,
                    memory_reserved_bytes=memory.reserved,
                    memory_free_bytes=memory.free,
                )
                return
        else:
            v2_reason = "FunctionNotFound: the binding has no nvmlMemory_v2"
        # The v1 struct has no reserved field (and counts reserved memory as used).
        memory = self.ask(names, "nvmlDeviceGetMemoryInfo", self.gpu.handle)
        if memory is not None:
            self.gpu.fields.update(memory_total_bytes=memory.total, memory_free_bytes=memory.free)
            self.gpu.unknown["memory_reserved_bytes"] = v2_reason

    def read_fabric(self) -> FabricFacts | None:
        struct = getattr(self.nvml, "c_nvmlGpuFabricInfoV_t", None)
        if struct is None:
            self.gpu.unknown["fabric"] = "FunctionNotFound: the binding has no c_nvmlGpuFabricInfoV_t"
            return None
        info = struct()
        answer = self.ask(["fabric"], "nvmlDeviceGetGpuFabricInfoV", self.gpu.handle, ctypes.byref(info))
        if answer is None:
            return None
        state = FABRIC_STATES.get(info.state)
        if state is None:
            self.gpu.unknown["fabric"] = f"unrecognised fabric state {info.state}"
            return None
        if state == "not_supported":
            return FabricFacts(state=state)
        return FabricFacts(
            state=state,
            status=_return_name(self.nvml, info.status),
            clique_id=info.cliqueId,
            cluster_uuid=_format_uuid(bytes(info.clusterUuid)),
        )

    def read_numa(self) -> int | None:
        # nvmlDeviceGetNumaNodeId names the GPU's own memory node (GH200-class only); the node a GPU hangs
        # off, which nvidia-smi topo prints as NUMA Affinity, is its memory affinity.
        mask = self.ask(["numa_node"], "nvmlDeviceGetMemoryAffinity", self.gpu.handle, 1, AFFINITY_SCOPE_NODE)
        if mask is None:
            return None
        word = int(mask[0])
        if not word:
            self.gpu.unknown["numa_node"] = "NVML reported no NUMA affinity"
            return None
        return (word & -word).bit_length() - 1

    def read_nvlinks(self) -> None:
        h = self.gpu.handle
        count = None
        fields = [FIELD_NVLINK_LINK_COUNT, FIELD_NVSWITCH_CONNECTED_LINK_COUNT]
        values = self.ask([], "nvmlDeviceGetFieldValues", h, fields)
        if values is not None:
            count, self.gpu.switch_links = _field_int(values[0]), _field_int(values[1])
        limit = count
        if limit is None:
            limit = getattr(self.nvml, "NVML_NVLINK_MAX_LINKS", MAX_LINKS_FALLBACK)
        for link in range(limit):
            try:
                state = self.session.call("nvmlDeviceGetNvLinkState", h, link)
            except self.nvml.NVMLError as exc:
                self.check_gone(exc)
                if count is None:
                    # Without field 91 the links are counted by probing; InvalidArgument after the first
                    # link means "past the last one", anything else leaves the links unknown from here.
                    if not (_error_code(exc) == "InvalidArgument" and self.gpu.nvlinks):
                        self.gpu.unknown["nvlinks"] = _reason(exc)
                    break
                self.gpu.unknown.setdefault("nvlinks.active", _reason(exc))
                self.gpu.nvlinks.append(NvlinkFacts(link=link))
                continue
            self.gpu.nvlinks.append(self.read_link(link, state == 1))

    def read_link(self, link: int, active: bool) -> NvlinkFacts:
        if not active:
            return NvlinkFacts(link=link, active=False)
        h = self.gpu.handle
        pci = self.ask(["nvlinks.remote_bus_id"], "nvmlDeviceGetNvLinkRemotePciInfo", h, link)
        kind = self.ask(["nvlinks.remote_type"], "nvmlDeviceGetNvLinkRemoteDeviceType", h, link)
        version = self.ask(["nvlinks.version"], "nvmlDeviceGetNvLinkVersion", h, link)
        return NvlinkFacts(
            link=link,
            active=True,
            remote_bus_id=pci.busId if pci is not None else None,
            remote_type=REMOTE_TYPES.get(kind, "unknown") if kind is not None else None,
            version=NVLINK_VERSIONS.get(version) if version is not None else None,
        )


def _field_int(value: Any) -> int | None:
    if value.nvmlReturn != 0 or value.valueType not in VALUE_FIELDS:
        return None
    return int(getattr(value.value, VALUE_FIELDS[value.valueType]))


@functools.cache
def _return_names(nvml: Any) -> dict[int, str]:
    names = {
        getattr(nvml, name): name.removeprefix("NVML_ERROR_")
        for name in dir(nvml)
        if name.startswith("NVML_ERROR_")
    }
    return {0: "SUCCESS", **names}


def _return_name(nvml: Any, code: int) -> str:
    return _return_names(nvml).get(code, f"NVML_RETURN_{code}")


def _format_uuid(raw: bytes) -> str:
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _read_gpu(session: _Session, index: int) -> _Gpu:
    gpu = _Gpu(index=index)
    session.where = f"GPU {index}"
    try:
        gpu.handle = session.call("nvmlDeviceGetHandleByIndex", index)
        _Reader(session, gpu).read()
    except session.nvml.NVMLError as exc:
        gpu.error, gpu.handle = _reason(exc), None
    except _GpuGone as gone:
        gpu.error, gpu.handle = str(gone), None
    return gpu


def _fabric_link_count(gpu: _Gpu, gpu_bus_ids: set[str]) -> int:
    """Active links to NVSwitches or unidentifiable far ends (never to a GPU of this node)."""
    counted = sum(
        1
        for link in gpu.nvlinks
        if link.active
        and link.remote_type in ("switch", "unknown", None)
        and (link.remote_bus_id or "").upper() not in gpu_bus_ids
    )
    return counted or (gpu.switch_links or 0)


def _switches(gpu: _Gpu) -> set[str]:
    return {
        (link.remote_bus_id or "").upper()
        for link in gpu.nvlinks
        if link.active and link.remote_type == "switch" and link.remote_bus_id
    }


def _direct_links(a: _Gpu, b: _Gpu) -> int:
    def towards(src: _Gpu, dst: _Gpu) -> int:
        bus_id = (dst.fields.get("bus_id") or "").upper()
        return sum(
            1
            for link in src.nvlinks
            if link.active and bus_id and (link.remote_bus_id or "").upper() == bus_id
        )

    return max(towards(a, b), towards(b, a))


def _pair(session: _Session, a: _Gpu, b: _Gpu, gpu_bus_ids: set[str]) -> tuple[GpuPair, bool]:
    """The pair's facts, and whether it is NVLink-connected (an edge of the clique graph)."""
    nvml = session.nvml
    session.where = f"GPUs {a.index},{b.index}"
    try:
        status = session.call("nvmlDeviceGetP2PStatus", a.handle, b.handle, P2P_CAPS_INDEX_NVLINK)
    except nvml.NVMLError:
        status = None
    try:
        level = session.call("nvmlDeviceGetTopologyCommonAncestor", a.handle, b.handle)
    except nvml.NVMLError:
        level = None
    p2p = None if status is None else status == P2P_STATUS_OK
    direct = _direct_links(a, b)
    fabric_a, fabric_b = _fabric_link_count(a, gpu_bus_ids), _fabric_link_count(b, gpu_bus_ids)
    # Joined through the fabric: a switch both can see, or P2P over NVLink without a direct link (switches
    # hidden from a VM). With direct links too and hidden far ends, the fabric's share cannot be told apart.
    shared_switch = bool(_switches(a) & _switches(b))
    via_fabric = bool(fabric_a and fabric_b) and (shared_switch or (p2p is True and not direct))
    connected = (direct > 0 and p2p is not False) or (fabric_a > 0 and fabric_b > 0 and p2p is True)
    nvlinks = direct + (min(fabric_a, fabric_b) if via_fabric else 0)
    pair = GpuPair(
        a=a.index,
        b=b.index,
        nvlinks=nvlinks,
        nvlink_p2p=p2p,
        pcie=TOPOLOGY_LEVELS.get(level) if level is not None else None,
    )
    return pair, connected


def partition_cliques(nodes: Iterable[int], edges: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Partition `nodes` into cliques of the undirected graph `edges`, largest first (see module doc).

    Returns the cliques sorted by their lowest member, each sorted ascending.
    """
    remaining = set(nodes)
    neighbours: dict[int, set[int]] = {n: set() for n in remaining}
    for a, b in edges:
        if a in neighbours and b in neighbours and a != b:
            neighbours[a].add(b)
            neighbours[b].add(a)
    cliques = []
    while remaining:
        best = min(_maximal_cliques(remaining, neighbours), key=lambda c: (-len(c), c))
        cliques.append(best)
        remaining -= set(best)
    return sorted(cliques)


def _maximal_cliques(nodes: set[int], neighbours: dict[int, set[int]]) -> list[list[int]]:
    """Bron-Kerbosch with pivoting, restricted to `nodes`."""
    found: list[list[int]] = []

    def expand(clique: set[int], candidates: set[int], excluded: set[int]) -> None:
        if not candidates and not excluded:
            found.append(sorted(clique))
            return
        pivot = max(candidates | excluded, key=lambda n: len(neighbours[n] & candidates))
        for node in sorted(candidates - neighbours[pivot]):
            near = neighbours[node] & nodes
            expand(clique | {node}, candidates & near, excluded & near)
            candidates = candidates - {node}
            excluded = excluded | {node}

    expand(set(), set(nodes), set())
    return found


def _read_node(session: _Session) -> GpuFacts:
    nvml = session.nvml

    def system(function: str) -> Any:
        try:
            return session.call(function)
        except nvml.NVMLError:
            return None

    driver = system("nvmlSystemGetDriverVersion")
    cuda = system("nvmlSystemGetCudaDriverVersion")
    nvml_version = system("nvmlSystemGetNVMLVersion")
    versions: dict[str, Any] = {
        "driver_version": driver,
        "cuda_driver_version": f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None,
        "nvml_version": nvml_version,
    }
    try:
        count = session.call("nvmlDeviceGetCount")
    except nvml.NVMLError as exc:
        return GpuFacts(nvml_error=NvmlError(code=_error_code(exc), message=str(exc)), **versions)
    gpus = [_read_gpu(session, index) for index in range(count)]
    healthy = [g for g in gpus if g.handle is not None]
    bus_ids = {str(g.fields.get("bus_id") or "").upper() for g in gpus} - {""}
    pairs = []
    edges = []
    for i, a in enumerate(healthy):
        for b in healthy[i + 1 :]:
            pair, connected = _pair(session, a, b, bus_ids)
            pairs.append(pair)
            if connected:
                edges.append((a.index, b.index))
    cliques = partition_cliques((g.index for g in healthy), edges)
    return GpuFacts(
        **versions,
        gpu_count=count,
        gpus=[g.info() for g in gpus],
        pairs=pairs,
        nvlink=NvlinkTopology(cliques=cliques, max_clique=max(map(len, cliques), default=0)),
        nvswitch_system=any(link.active and link.remote_type == "switch" for g in gpus for link in g.nvlinks),
    )


def _run(session: _Session) -> GpuFacts:
    nvml = session.nvml
    try:
        session.call("nvmlInit")
    except nvml.NVMLError as exc:
        return GpuFacts(nvml_error=NvmlError(code=_error_code(exc), message=str(exc)))
    try:
        return _read_node(session)
    finally:
        session.shutdown()


def probe_gpu(nvml: Any, *, deadline: float = 10.0) -> GpuFacts:
    """Read the node's GPUs through `nvml` (the `pynvml` module), giving up after `deadline` seconds.

    NVML is initialised and shut down once. On timeout the result carries `nvml_error` code `Timeout`,
    naming the call in flight; the worker thread is left to finish (it is a daemon, and makes no further
    calls but `nvmlShutdown`).
    """
    started = time.monotonic()
    session = _Session(nvml)

    def work() -> GpuFacts:
        try:
            return _run(session)
        except _Cancelled:
            raise
        except Exception as exc:  # a bug or a binding surprise must not take the caller down
            return GpuFacts(nvml_error=NvmlError(code="ProbeError", message=f"{type(exc).__name__}: {exc}"))

    try:
        facts = run_with_deadline(work, deadline, name="nimdoctor-nvml-probe")
    except DeadlineExceeded:
        session.cancelled.set()
        in_flight = session.in_flight or "between calls"
        message = f"NVML did not answer within {deadline:g} s; in flight: {in_flight}"
        facts = GpuFacts(nvml_error=NvmlError(code="Timeout", message=message))
    return _with_cost(facts, session.calls, time.monotonic() - started)


def _with_cost(facts: GpuFacts, calls: int, seconds: float) -> GpuFacts:
    return msgspec.structs.replace(facts, calls=calls, duration_seconds=round(seconds, 6))
