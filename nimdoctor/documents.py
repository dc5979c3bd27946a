"""The documents nimdoctor's commands print with `-o json|yaml`, and their JSON Schemas.

Every document carries `apiVersion: nimdoctor.io/v1alpha1` and its own `kind`, so a script can tell them
apart without knowing which command printed them:

| kind | printed by | type |
|---|---|---|
| Report | `run` | `nimdoctor.report.Report` |
| WorkloadReport | `lint`, `run --cluster` | `nimdoctor.workloads.report.WorkloadReport` |
| Plan | `plan` | `Plan` |
| Capacity | `capacity` | `nimdoctor.capacity.document.Capacity` |
| Topology | `topo` | `Topology` |
| CheckList | `checks` | `CheckList` |
| Check | `explain` | `CheckDocument` |
| MachineList | `machine list` | `MachineList` |
| Machine | `machine show`, `machine import` | `nimdoctor.simulation.machine.MachineSpec` |

The schemas are generated from these types (`schemas()`), never written by hand.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from nimdoctor import API_VERSION
from nimdoctor.report import Base, GpuFacts, Severity


class PlanMachine(Base, frozen=True, kw_only=True):
    """One machine's answer: whether the model fits, at which layout, the first reason it does not, and
    the warnings that hold even where it fits. Memory in bytes: what one GPU needs, what it has."""

    machine: str
    gpus: str | None  # e.g. "8x H100-SXM"; None when NVML did not say
    fits: bool | None  # None: could not be judged
    tensor_parallel: int
    pipeline_parallel: int
    precision: str
    precision_reason: str | None
    engine: str | None = None  # tensorrt_llm | vllm: what NIM runs there
    engine_reason: str | None = None  # why, and which NIM version was assumed
    served_context: int | None = None  # tokens of one sequence the engine serves on that GPU
    max_context: int | None = None  # tokens the model is served with (default or requested)
    gpu_memory_need_bytes: int | None  # weights + KV cache + overhead, per GPU
    min_gpu_memory_bytes: int | None  # the need over the usable fraction: what the GPU must have
    gpu_memory_bytes: int | None  # what one GPU (or the requested MIG device) has
    reason: str | None  # the first failing reason's short line
    fix: str | None
    warnings: list[str]  # short lines of the warnings, fitting or not


class Plan(Base, frozen=True, kw_only=True):
    """Where a model fits: one entry per machine. `did_you_mean` lists catalog models close to a name the
    catalog does not know; `params_source` says where the size came from (`name`: read from the name)."""

    api_version: str = API_VERSION
    kind: Literal["Plan"] = "Plan"
    model: str  # as asked
    resolved_model: str  # the catalog's name, or the name normalised
    params_b: float | None
    params_source: str | None
    did_you_mean: list[str] = msgspec.field(default_factory=list)
    machines: list[PlanMachine]


class Topology(Base, frozen=True, kw_only=True):
    """The GPU matrix of a node, as `nvidia-smi topo -m` prints it (`matrix`, `X` on the diagonal), and
    the NVML facts it comes from."""

    api_version: str = API_VERSION
    kind: Literal["Topology"] = "Topology"
    node: str
    simulated: str | UnsetType = UNSET
    matrix: list[list[str]]
    gpu: GpuFacts


class CheckSummary(Base, frozen=True, kw_only=True):
    """One check of the catalog, as `nimdoctor checks` lists it."""

    id: str
    title: str
    area: str
    severity: Severity
    params: dict[str, Any]
    short: str
    runbook: str


class CheckList(Base, frozen=True, kw_only=True):
    """The check catalog, overlays applied."""

    api_version: str = API_VERSION
    kind: Literal["CheckList"] = "CheckList"
    items: list[CheckSummary]


class Source(Base, frozen=True, kw_only=True):
    """A kind of source the check's `why` rests on: its tag in the catalog and what the tag means."""

    tag: str  # NVIDIA | SEED | DERIVED | CODE
    meaning: str


class Reference(Base, frozen=True, kw_only=True):
    """A document the check's `why` rests on, with its address."""

    title: str
    url: str


class Placeholder(Base, frozen=True, kw_only=True):
    """A value of the fix: from a catalog parameter (`value`), or known only when the check runs (`name`)."""

    name: str  # as in the template
    value: str | UnsetType = UNSET  # filled from the catalog's parameters
    runtime: str | UnsetType = UNSET  # the readable name shown instead, e.g. "current soft limit"
    optional: bool | UnsetType = UNSET  # True: a note the check adds only when it applies, left out of `fix`


class CheckDocument(Base, frozen=True, kw_only=True):
    """One check explained: `why` without provenance tags (those are `sources`), the documents it rests on
    (`references`), `fix` with the catalog's parameters filled in and run-time values as `<readable names>`;
    `fix_template` as the catalog has it."""

    api_version: str = API_VERSION
    kind: Literal["Check"] = "Check"
    id: str
    title: str
    area: str
    severity: Severity
    params: dict[str, Any]
    param_types: dict[str, str]
    why: str
    sources: list[Source]
    references: list[Reference]
    short: str
    fix: str
    fix_template: str
    placeholders: list[Placeholder]
    runbook: str


class MachineSummary(Base, frozen=True, kw_only=True):
    """One built-in machine, as `nimdoctor machine list` shows it."""

    name: str
    gpus: int
    gpu_models: str
    virtualization: str
    description: str


class MachineList(Base, frozen=True, kw_only=True):
    """The built-in machines."""

    api_version: str = API_VERSION
    kind: Literal["MachineList"] = "MachineList"
    items: list[MachineSummary]


def document_types() -> dict[str, Any]:
    """Every document type by its `kind` (imported here, lazily: a plain `run` needs none of the others)."""
    from nimdoctor.capacity.document import Capacity
    from nimdoctor.report import Report
    from nimdoctor.simulation.machine import MachineSpec
    from nimdoctor.workloads.report import WorkloadReport

    return {
        "Report": Report,
        "WorkloadReport": WorkloadReport,
        "Plan": Plan,
        "Capacity": Capacity,
        "Topology": Topology,
        "CheckList": CheckList,
        "Check": CheckDocument,
        "MachineList": MachineList,
        "Machine": MachineSpec,
    }


def schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every document, by `kind`, generated from its type."""
    return {kind: msgspec.json.schema(cls) for kind, cls in document_types().items()}
