"""Placement against what NVIDIA ships: the smallest tensor-parallel size per model, GPU and precision.

Each row is read from a NIM model manifest (optimized TensorRT-LLM profiles, tags gpu / precision / tp);
the row says which, and `expected_tp` is the smallest TP NVIDIA ships there (None: not on one 8-GPU node).
Every row is run through `place` (what `plan` and `run --model` call) on an 8-GPU node of that GPU, and
the rows whose GPU has a machine description are run through `nimdoctor plan` itself.

Agreement reached: 40 of 42 rows with NVIDIA's shipped sizes as candidates (95 %), and 35 of 42 with the
memory model alone (83 %). The rows that differ say why (`differs`); the test fails if a row that agreed
stops agreeing, or one that differs starts to differ in another way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.cli.plan_cmd import plan_row
from nimdoctor.placement import ModelRequest, fit, place, requirement_from_model
from nimdoctor.report import Capabilities, Status
from nimdoctor.simulation.machine import Machine, load_builtin
from tests.placement import nodes

MIB = 2**20
L8, L70, L33 = "meta/llama-3.1-8b-instruct", "meta/llama-3.1-70b-instruct", "meta/llama-3.3-70b-instruct"
L405 = "meta/llama-3.1-405b-instruct"
M7, M22 = "mistralai/mixtral-8x7b-instruct-v01", "mistralai/mixtral-8x22b-instruct-v01"
N49 = "nvidia/llama-3.3-nemotron-super-49b-v1"

# Where each model's rows come from: (NIM release, cloudera/Model-Hub commit, path of the manifest copy).
MANIFESTS: dict[str, tuple[str, str, str]] = {
    L8: ("1.8.6", "a05e15d", "models/csk/1.54.0/llama-3.1-instruct.yaml"),
    L70: ("1.8.5", "a05e15d", "models/csk/1.54.0/llama-3.1-instruct.yaml"),
    L33: ("1.8.5", "1ec58e2", "models/csk/1.54.0/llama-3.3-instruct.yaml"),
    L405: ("1.3.0", "8337ed0", "manifests/1.10.0/nim/meta/llama-3_1-405b-instruct.yaml"),
    M7: ("1.8.4", "74dfcfe", "models/private/1.56.0/mixtral-instruct.yaml"),
    M22: ("1.2.2", "8022c92", "manifests/1.11.0/nim/mistralai/mixtral-8x22b-instruct-v01.yaml"),
    N49: ("1.8.6", "74dfcfe", "models/csk/1.54.0/llama-3.3-nemotron-super-49b-v1.yaml"),
}


def manifest(model: str) -> str:
    """The row source: the NIM manifest the shipped profiles were read from."""
    release, commit, path = MANIFESTS[model]
    return f"NIM {release} manifest of {model}, as copied in cloudera/Model-Hub@{commit}:{path}"


S8, S70, S33, S405, SM7, SM22, SN49 = (manifest(m) for m in (L8, L70, L33, L405, M7, M22, N49))


def _node(product: str, memory_mib: int, cc: str, clique: int) -> Capabilities:
    return nodes.node(
        gpu_product=product,
        gpu_count=8,
        gpu_memory_bytes=memory_mib * MIB,
        compute_capability=cc,
        max_nvlink_clique=clique,
    )


# NVML totals (MiB) as nimdoctor.gpus has them; L40S and A10G have no NVLink.
GPUS: dict[str, Capabilities] = {
    "H100": _node("H100-SXM", 81559, "9.0", 8),
    "H200": _node("H200-SXM", 143771, "9.0", 8),
    "A100": _node("A100-SXM", 81920, "8.0", 8),
    "L40S": _node("L40S", 46068, "8.9", 1),
    "A10G": _node("A10G", 23028, "8.6", 1),
}


@dataclass(frozen=True)
class Row:
    model: str
    gpu: str
    precision: str
    expected_tp: int | None  # the smallest TP NVIDIA ships; None: not on one 8-GPU node
    source: str
    placed_tp: int | None  # what `place` answers: expected_tp where it agrees
    memory_tp: int | None  # what the memory model alone answers: expected_tp where it agrees
    differs: str  # why an answer differs from NVIDIA's


_SAME = -1


def row(
    model: str,
    gpu: str,
    precision: str,
    expected_tp: int | None,
    source: str,
    *,
    placed_tp: int | None = _SAME,
    memory_tp: int | None = _SAME,
    differs: str = "",
) -> Row:
    """A row; `placed_tp`/`memory_tp` are given only where nimdoctor's answer differs from NVIDIA's."""
    return Row(
        model,
        gpu,
        precision,
        expected_tp,
        source,
        expected_tp if placed_tp == _SAME else placed_tp,
        expected_tp if memory_tp == _SAME else memory_tp,
        differs,
    )


WHY_A10G_70B = (
    "at TP 8 the 131072-token KV cache (5 GiB per GPU) leaves 22.5 GiB A10Gs short; the manifest "
    "does not say the engine's maximum sequence length, which must be shorter"
)
WHY_M7_L40S = "memory alone fits TP 2; NVIDIA ships TP 4 only, which the shipped candidates follow"
WHY_N49_H100 = (
    "at TP 1 the weights (46.5 GiB), the 25 GiB KV cache of 131072 tokens (50 attention layers) "
    "and 4.5 GiB overhead exceed 0.9 of 79.6 GiB; the manifest does not say the engine's KV-cache "
    "precision or maximum sequence length"
)

ROWS = [
    row(L8, "H100", "fp8", 1, S8),
    row(L8, "H100", "bf16", 1, S8),
    row(L8, "H200", "fp8", 1, S8),
    row(L8, "H200", "bf16", 1, S8),
    row(L8, "A100", "bf16", 1, S8),
    row(L8, "L40S", "fp8", 1, S8),
    row(L8, "L40S", "bf16", 1, S8),
    row(L8, "A10G", "bf16", 2, S8),
    row(L70, "H100", "fp8", 2, S70),
    row(L70, "H100", "bf16", 4, S70),
    row(L70, "H200", "fp8", 1, S70),
    row(L70, "H200", "bf16", 2, S70),
    row(L70, "A100", "bf16", 4, S70),
    row(L70, "L40S", "fp8", 4, S70),
    row(L70, "L40S", "bf16", 8, S70),
    row(L70, "A10G", "bf16", 8, S70, placed_tp=None, memory_tp=None, differs=WHY_A10G_70B),
    row(L33, "H100", "fp8", 2, S33),
    row(L33, "H100", "bf16", 4, S33),
    row(L33, "H200", "fp8", 1, S33),
    row(L33, "A100", "bf16", 4, S33),
    row(L33, "L40S", "fp8", 4, S33),
    row(L33, "L40S", "bf16", 8, S33),
    row(L405, "H100", "fp8", 8, S405),
    row(L405, "H100", "bf16", None, S405 + " (fp16 ships as tp8-pp2: 16 GPUs, two nodes)"),
    row(M7, "H100", "fp8", 1, SM7),
    row(M7, "H100", "bf16", 2, SM7),
    row(M7, "A100", "bf16", 2, SM7),
    row(M7, "L40S", "fp8", 4, SM7, memory_tp=2, differs=WHY_M7_L40S),
    row(M7, "L40S", "bf16", 4, SM7),
    row(M7, "H200", "bf16", 1, SM7),
    row(M7, "H200", "fp8", 1, SM7),
    row(M7, "A10G", "bf16", 8, SM7),
    row(M22, "H100", "fp16", 8, SM22),
    row(M22, "A100", "fp16", 8, SM22),
    row(N49, "H100", "fp8", 1, SN49, placed_tp=2, memory_tp=2, differs=WHY_N49_H100),
    row(N49, "H100", "bf16", 4, SN49, memory_tp=2, differs="memory alone fits TP 2; NVIDIA ships TP 4 and 8"),
    row(N49, "A100", "bf16", 4, SN49, memory_tp=2, differs="memory alone fits TP 2; NVIDIA ships TP 4"),
    row(N49, "L40S", "fp8", 4, SN49, memory_tp=2, differs="memory alone fits TP 2; NVIDIA ships TP 4"),
    row(N49, "L40S", "bf16", 4, SN49),
    row(N49, "H200", "fp8", 1, SN49),
    row(N49, "H200", "bf16", 2, SN49, memory_tp=1, differs="memory alone fits TP 1; NVIDIA ships TP 2 and 4"),
    row(N49, "A10G", "bf16", 8, SN49),
]
PLACE_AGREEMENT = 40  # rows where `place` names NVIDIA's smallest TP (or says no, as NVIDIA does)
MEMORY_AGREEMENT = 35  # rows where the memory model alone does


def _row_id(case: Row) -> str:
    return f"{case.model.rsplit('/', 1)[1]}-{case.gpu}-{case.precision}"


def placed_tp(case: Row, catalog: Catalog) -> int | None:
    placement = place(GPUS[case.gpu], ModelRequest(case.model, precision=case.precision), catalog)
    return placement.requirement.tensor_parallel if placement.fits else None


def memory_tp(case: Row, catalog: Catalog) -> int | None:
    """The smallest TP at which memory (NIM-FIT-001, NIM-FIT-006) does not fail, shipped sizes ignored."""
    for tp in (1, 2, 4, 8):
        requirement = requirement_from_model(case.model, catalog, precision=case.precision, tp=tp)
        verdict = fit(GPUS[case.gpu], requirement, catalog)
        failing = {r.id for r in verdict.reasons if r.status is Status.FAIL}
        if not failing & {"NIM-FIT-001", "NIM-FIT-006"}:
            return tp
    return None


def test_the_table_has_at_least_thirty_sourced_rows() -> None:
    assert len(ROWS) >= 30
    assert all(case.source.startswith("NIM ") for case in ROWS)
    assert len({_row_id(r) for r in ROWS}) == len(ROWS)


@pytest.mark.parametrize("case", ROWS, ids=_row_id)
def test_place_names_nvidias_smallest_tp_or_the_documented_difference(case: Row, catalog: Catalog) -> None:
    assert placed_tp(case, catalog) == case.placed_tp, case.differs or case.source


@pytest.mark.parametrize("case", ROWS, ids=_row_id)
def test_the_memory_model_alone_or_the_documented_difference(case: Row, catalog: Catalog) -> None:
    assert memory_tp(case, catalog) == case.memory_tp, case.differs or case.source


def test_the_agreement_figures(catalog: Catalog) -> None:
    placed = sum(placed_tp(case, catalog) == case.expected_tp for case in ROWS)
    memory = sum(memory_tp(case, catalog) == case.expected_tp for case in ROWS)
    assert (placed, memory, len(ROWS)) == (PLACE_AGREEMENT, MEMORY_AGREEMENT, 42), (
        f"placement agrees with NVIDIA on {placed}/{len(ROWS)}, the memory model alone on {memory}"
    )


def _machine(base: str, gpu_name: str, memory_mib: int, device: int, arch: str, cc: str) -> Machine:
    """A built-in machine with its GPUs swapped for another model (and no NVLink for PCIe-only GPUs)."""
    machine = load_builtin(base)
    nvlink = arch == "hopper" or (arch == "ampere" and gpu_name.startswith("NVIDIA A100"))
    gpus = [
        msgspec.structs.replace(
            g,
            name=gpu_name,
            pci_device_id=(device << 16) | 0x10DE,
            architecture=arch,
            compute_capability=cc,
            memory=msgspec.structs.replace(g.memory, total_mib=memory_mib) if g.memory else None,
            nvlink=g.nvlink if nvlink else None,
            fabric=g.fabric if nvlink else None,
        )
        for g in machine.spec.gpus
    ]
    spec = msgspec.structs.replace(
        machine.spec, gpus=gpus, nvswitches=machine.spec.nvswitches if nvlink else []
    )
    return Machine(spec=spec, base_dir=machine.base_dir)


MACHINES: dict[str, Any] = {
    "H100": lambda: load_builtin("dgx-h100"),
    "A100": lambda: load_builtin("hgx-a100-80gb"),
    "H200": lambda: _machine("dgx-h100", "NVIDIA H200", 143771, 0x2335, "hopper", "9.0"),
    "L40S": lambda: _machine("dgx-h100", "NVIDIA L40S", 46068, 0x26B9, "ada", "8.9"),
    "A10G": lambda: _machine("dgx-h100", "NVIDIA A10G", 23028, 0x2237, "ampere", "8.6"),
}


@pytest.mark.parametrize("gpu", sorted(MACHINES))
def test_plan_answers_as_place_does_on_described_machines(gpu: str, catalog: Catalog) -> None:
    machine = MACHINES[gpu]()
    for case in (r for r in ROWS if r.gpu == gpu):
        answer = plan_row(machine, ModelRequest(case.model, precision=case.precision), catalog)
        assert (answer.tensor_parallel if answer.fits else None) == case.placed_tp, _row_id(case)
        assert answer.precision == case.precision
