"""The report model: the one structure that every output renders.

Defined once here as msgspec structs; JSON keys are camelCase, and the JSON Schema is generated from these
types (`report_schema()`), never written by hand. A field left `UNSET` is absent from the JSON: that is how
"containerd was not found" differs from "containerd has no limit" (`None`, rendered `null`).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from nimdoctor import API_VERSION


def format_time(value: dt.datetime) -> str:
    """An aware datetime as every nimdoctor document writes it: RFC 3339 in UTC, whole seconds
    (`2026-11-29T19:00:00Z`)."""
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Status(enum.StrEnum):
    """Outcome of one check."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"


class Severity(enum.StrEnum):
    """How much a failing check matters: critical means no NIM pod can run on the node."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def at_least(severity: Severity, floor: Severity) -> bool:
    """Whether `severity` is `floor` or more severe (critical > warning > info)."""
    return _RANK[severity] >= _RANK[floor]


class Base(msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=True):
    """Common struct settings: immutable, keyword-only, camelCase on the wire."""


class Finding(Base, frozen=True, kw_only=True):
    """One check's verdict with its evidence and, when something is wrong, the fix."""

    id: str
    status: Status
    severity: Severity
    title: str
    message: str
    fix: str | None = None
    evidence: dict[str, Any] = msgspec.field(default_factory=dict)


class ContainerdCandidate(Base, frozen=True, kw_only=True):
    """A process whose `comm` is exactly `containerd`.

    `unit` is the systemd service its cgroup puts it in, when that service is the node's own (not one
    inside a container); `None` when the cgroup shows none or could not be read.
    """

    pid: int
    ppid: int | None = None
    start_ticks: int | None = None
    unit: str | None = None


class ContainerdFacts(Base, frozen=True, kw_only=True):
    """The running containerd daemon's open-file limits, as `/proc/<pid>/limits` shows them.

    A limit is an integer, or `None` for `unlimited`. Both are `UNSET` when the limits could not be read
    (`limits_error` says why).
    """

    pid: int
    nofile_soft: int | UnsetType | None = UNSET
    nofile_hard: int | UnsetType | None = UNSET
    source: str
    limits_error: str | UnsetType = UNSET


class NofileSetting(Base, frozen=True, kw_only=True):
    """`LimitNOFILE` as systemd would apply it; `None` in a bound means `infinity`."""

    soft: int | None
    hard: int | None
    raw: str
    source: str


class IgnoredSetting(Base, frozen=True, kw_only=True):
    """A `LimitNOFILE=` that systemd ignores (it keeps the value before it), and why."""

    raw: str
    source: str  # file:line
    reason: str


class RuntimeFacts(Base, frozen=True, kw_only=True):
    """What the container runtime probe read from the host.

    `chosen_by` says which rule picked the daemon among the candidates (`unit`: its cgroup is the node's
    containerd service; `parent`: a child of pid 1; `age`: the oldest), and `ambiguous` lists the other
    pids that rule could not tell from it. `config_error` means the configured `LimitNOFILE` is unknown (a
    unit file that cannot be read or that systemd would not load); `ignored_nofile` is the last
    `LimitNOFILE=` when systemd ignores it (an admin's change that never takes effect), and `config_notes`
    lists every ignored assignment and masked file. `error` means the host's `/proc` could not be read at all.
    """

    proc_root: str
    containerd: ContainerdFacts | UnsetType = UNSET
    candidates: list[ContainerdCandidate] = msgspec.field(default_factory=list)
    chosen_by: str | UnsetType = UNSET
    ambiguous: list[int] = msgspec.field(default_factory=list)
    unit: str = "containerd.service"
    configured_nofile: NofileSetting | UnsetType = UNSET
    unit_files: list[str] = msgspec.field(default_factory=list)
    nr_open: int | UnsetType = UNSET
    config_error: str | UnsetType = UNSET
    ignored_nofile: IgnoredSetting | UnsetType = UNSET
    config_notes: list[str] = msgspec.field(default_factory=list)
    error: str | UnsetType = UNSET


class NvlinkFacts(Base, frozen=True, kw_only=True):
    """One NVLink of a GPU. `None` means NVML could not say (not supported, function missing)."""

    link: int
    active: bool | None = None
    remote_bus_id: str | None = None
    remote_type: str | None = None  # gpu | switch | ibmnpu | unknown
    version: str | None = None  # NVLink generation, e.g. "4.0"


class FabricFacts(Base, frozen=True, kw_only=True):
    """NVSwitch fabric registration of a GPU (Hopper and newer)."""

    state: str  # not_supported | not_started | in_progress | completed
    status: str | None = None  # NVML return name of the registration, e.g. "SUCCESS"
    clique_id: int | None = None
    cluster_uuid: str | None = None


class MigInstance(Base, frozen=True, kw_only=True):
    """MIG devices of one profile on one GPU: `profile` as GPU Feature Discovery names it (`3g.40gb`)."""

    profile: str
    memory_bytes: int  # each device's memory, as NVML reports it for the MIG device
    count: int


class GpuInfo(Base, frozen=True, kw_only=True):
    """One GPU. Fields NVML could not answer are `None`; `unknown` names them and why."""

    index: int
    name: str | None = None
    uuid: str | None = None
    bus_id: str | None = None
    pci_device_id: str | None = None  # "0x233010DE"
    memory_total_bytes: int | None = None
    memory_reserved_bytes: int | None = None
    memory_free_bytes: int | None = None
    architecture: str | None = None  # ampere | ada | hopper | blackwell | ...
    compute_capability: str | None = None  # "9.0"
    virtualization_mode: str | None = None  # none | passthrough | vgpu | host_vgpu | host_vsga
    mig_enabled: bool | None = None
    mig_pending: bool | None = None
    mig_instances: list[MigInstance] = msgspec.field(default_factory=list)
    fabric: FabricFacts | None = None
    numa_node: int | None = None
    nvlinks: list[NvlinkFacts] = msgspec.field(default_factory=list)
    unknown: dict[str, str] = msgspec.field(default_factory=dict)
    error: str | UnsetType = UNSET  # the GPU did not answer at all (e.g. "GpuIsLost: ...")


class GpuPair(Base, frozen=True, kw_only=True):
    """How two GPUs reach each other: NVLink count, P2P over NVLink, and the PCIe path."""

    a: int
    b: int
    nvlinks: int = 0  # links between them (NV#); through switches, the links shared via the fabric
    nvlink_p2p: bool | None = None
    pcie: str | None = None  # PIX | PXB | PHB | NODE | SYS


class NvlinkTopology(Base, frozen=True, kw_only=True):
    """NVLink cliques: maximal groups of GPUs pairwise connected by NVLink."""

    cliques: list[list[int]] = msgspec.field(default_factory=list)
    max_clique: int = 0


class NvmlError(Base, frozen=True, kw_only=True):
    """NVML could not be used at all."""

    code: str  # LibraryNotFound | DriverNotLoaded | NoPermission | LibRmVersionMismatch | Timeout | ...
    message: str


class GpuFacts(Base, frozen=True, kw_only=True):
    """What the NVML probe read."""

    nvml_error: NvmlError | UnsetType = UNSET
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    nvml_version: str | None = None
    gpu_count: int | None = None
    gpus: list[GpuInfo] = msgspec.field(default_factory=list)
    pairs: list[GpuPair] = msgspec.field(default_factory=list)
    nvlink: NvlinkTopology = msgspec.field(default_factory=NvlinkTopology)
    nvswitch_system: bool = False
    calls: int = 0
    duration_seconds: float = 0.0


class NodeFacts(Base, frozen=True, kw_only=True):
    """What nimdoctor knows of the node's Kubernetes object (labels from GPU Feature Discovery)."""

    labels: dict[str, str] = msgspec.field(default_factory=dict)


class Facts(Base, frozen=True, kw_only=True):
    """Facts per probe; a probe that did not run is absent.

    `unmeasured` names facts a described machine does not hold (`driver`: the driver, CUDA and NVML
    versions; `openFiles`: containerd's open-file limits) and why: their checks skip with that reason
    instead of judging invented values. A real node measures everything: it is absent.
    """

    runtime: RuntimeFacts | UnsetType = UNSET
    gpu: GpuFacts | UnsetType = UNSET
    node: NodeFacts | UnsetType = UNSET
    unmeasured: dict[str, str] | UnsetType = UNSET


# Bounds on what a node can report: a published report is untrusted input to every reader, which refuses
# (and the CRD's schema forbids) values no node can have, so a hostile or corrupt report costs only its node.
# Decoding (`msgspec.convert`) enforces them; constructing a struct in code does not.
MAX_NODE_GPUS = 64  # no OS sees more GPUs on one node (the largest servers carry 16 to 20; NVL72 nodes see 4)
MAX_GPU_MEMORY_BYTES = 2**41  # 2 TiB per GPU, far above any GPU made (B300: 288 GB)
MAX_MIG_PER_GPU = 7  # MIG devices one GPU offers at most (A100, H100, B200; MIG user guide)
MAX_NOFILE = 2**31  # RLIMIT_NOFILE cannot exceed fs.nr_open, whose ceiling is below 2^31 (fs/file.c)
PRINTABLE = r"^[ -~]*$"  # printable ASCII: no control character reaches a log, an Event or a terminal
GpuCount = Annotated[int, msgspec.Meta(ge=0, le=MAX_NODE_GPUS)]
MemoryBytes = Annotated[int, msgspec.Meta(ge=0, le=MAX_GPU_MEMORY_BYTES)]
ShortText = Annotated[str, msgspec.Meta(max_length=64, pattern=PRINTABLE)]
ComputeCapability = Annotated[str, msgspec.Meta(max_length=5, pattern=r"^[0-9]{1,2}\.[0-9]{1,2}$")]


class MigSlice(Base, frozen=True, kw_only=True):
    """MIG devices of one profile across the node: what a `nvidia.com/mig-<profile>` request can get."""

    profile: ShortText  # e.g. "3g.40gb"
    memory_bytes: MemoryBytes  # per device (the smallest, if GPUs differ)
    count: Annotated[int, msgspec.Meta(ge=0, le=MAX_NODE_GPUS * MAX_MIG_PER_GPU)]  # devices on the node


class Capabilities(Base, frozen=True, kw_only=True):
    """The compact node summary that placement decides on (published by the agent, read by the extender)."""

    ready: bool
    nofile_soft: Annotated[int, msgspec.Meta(ge=0, le=MAX_NOFILE)] | UnsetType | None = UNSET
    nofile_unlimited: bool | UnsetType = UNSET
    # normalised family and variant, e.g. "H100-SXM", "L40S"; mixed models joined with "+"
    gpu_product: Annotated[str, msgspec.Meta(max_length=256, pattern=PRINTABLE)] | UnsetType = UNSET
    gpu_count: GpuCount | UnsetType = UNSET
    gpu_memory_bytes: MemoryBytes | UnsetType = UNSET  # per GPU, the smallest
    max_nvlink_clique: GpuCount | UnsetType = UNSET
    virtualization: ShortText | UnsetType = UNSET
    mig_enabled: bool | UnsetType = UNSET
    # MIG devices by profile, when MIG is enabled
    mig_slices: Annotated[tuple[MigSlice, ...], msgspec.Meta(max_length=64)] | UnsetType = UNSET
    mig_strategy: Literal["single", "mixed"] | UnsetType = (
        UNSET  # from the node label nvidia.com/mig.strategy
    )
    compute_capability: ComputeCapability | UnsetType = UNSET  # "major.minor", e.g. "9.0"
    driver_version: ShortText | UnsetType = UNSET


class ShippedTp(Base, frozen=True, kw_only=True):
    """Tensor-parallel sizes NVIDIA ships optimized profiles for, on one GPU product and precision."""

    gpu: str  # nimdoctor's product name, e.g. "H100-SXM"
    precision: str
    tp: tuple[int, ...]
    pp: int = 1
    engine: str = "tensorrt_llm"  # tensorrt_llm | vllm
    release: str | None = None  # the NIM release whose manifest lists them


class Requirement(Base, frozen=True, kw_only=True):
    """What a model needs from a node (see `nimdoctor.placement`)."""

    model: str
    params_b: float | None  # None: unknown model without a declared size
    params_source: str | None = None  # catalog | annotation | declared | name
    params_upper_bound: bool = False  # size parsed from an `8x7b`-style name: experts x expert size
    kind: str | None = None  # llm | embedding | reranker, when the model catalog knows the model
    precision: str
    precision_source: str = "default"  # request | profile | published | nim-default | default
    precision_reason: str | None = None  # why this precision was assumed
    precision_auto: bool = False  # NIM's own choice: fp8 where the GPU supports it (fit decides per node)
    bytes_per_param: float
    tensor_parallel: int
    pipeline_parallel: int = 1
    gpus: int  # GPUs (or MIG devices) per pod
    attention_heads: int | None = None
    max_context: int | None = None  # tokens of one sequence the KV cache is sized for
    context_source: str | None = None  # catalog | NIM_MAX_MODEL_LEN | --max-model-len
    nim_version: str | None = None  # from the image tag or --nim-version; None: the newest 1.x data assumed
    engine: str | None = None  # tensorrt_llm | vllm, decided per node (None: no node yet)
    engine_reason: str | None = None  # why this engine, and which NIM version was assumed
    served_context: int | None = None  # tokens of one sequence the engine serves on this node's GPU
    kv_bytes_per_token: int | None = None  # all layers; 0: no KV cache (encoders); None: architecture unknown
    weights_per_gpu_bytes: int | None = None
    kv_cache_per_gpu_bytes: int | None = None
    overhead_per_gpu_bytes: int | None = None
    gpu_memory_need_bytes: int | None = None  # weights + KV cache + overhead, per GPU
    min_gpu_memory_bytes: int | None = None  # the need over the usable fraction: NVML's total must reach it
    nvlink: str = "none"  # none | advised | required
    min_nofile: int | None = None
    single_node: bool = True
    profile: str | None = None
    profile_gpu: str | None = None  # the GPU a profile was built for, e.g. "H100-NVL"
    shipped: tuple[ShippedTp, ...] = ()  # NVIDIA's optimized profiles for this model
    mig_profile: str | None = None  # the MIG device a pod requests (nvidia.com/mig-<profile>), e.g. "3g.40gb"
    cache_pvc_bytes: int | None = None
    source: str = "name"  # name | pod | NIMService | NIMCache
    # GPUs from DRA resource claims: count (exact), all (every matching GPU of a node), unknown (not seen)
    claims: str | None = None
    claim_gpu: str | None = None  # the GPU product a claim's selector asks for, e.g. "H100-SXM"
    claim_min_memory_bytes: int | None = None  # a claim's selector on the GPU's memory
    claim_max_memory_bytes: int | None = None
    claim_unevaluable: tuple[str, ...] = ()  # selector expressions nimdoctor did not read (never guessed)


class Reason(Base, frozen=True, kw_only=True):
    """Why a model does not fit a node, or what to watch (warn)."""

    id: str
    status: Status  # fail | warn; error: could not be evaluated (model size or GPU memory unknown)
    short: str  # "<id> <catalog short>", fixed per (requirement, check): no node names
    message: str
    fix: str


class Placement(Base, frozen=True, kw_only=True):
    """Does the model fit this node, at which tensor parallelism, and why not.

    `fits` is None when it could not be judged (model size, GPU memory or GPU model unknown): never a fit.
    """

    model: str
    fits: bool | None
    requirement: Requirement
    reasons: list[Reason] = msgspec.field(default_factory=list)
    tried: list[int] = msgspec.field(default_factory=list)  # TPs tried when none was given


class Report(Base, frozen=True, kw_only=True):
    """A node diagnosis."""

    api_version: str = API_VERSION
    kind: Literal["Report"] = "Report"
    node: str
    generated_at: str
    simulated: str | UnsetType = UNSET
    ready: bool
    facts: Facts
    capabilities: Capabilities
    findings: list[Finding]
    placement: Placement | UnsetType = UNSET


def to_builtins(report: Report) -> Any:
    """The report as plain JSON-compatible Python values (camelCase keys, absent fields left out)."""
    return msgspec.to_builtins(report)


def report_schema() -> dict[str, Any]:
    """JSON Schema of the report, generated from the types above."""
    return msgspec.json.schema(Report)
