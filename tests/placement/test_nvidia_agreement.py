"""Placement against what NVIDIA ships: the smallest tensor-parallel size per model, GPU and precision.

Each row is read from the newest standard NIM 1.x model manifest found for the model (optimized
TensorRT-LLM profiles, tags gpu / precision / tp / llm_engine); the row says which, and `expected_tp` is the
smallest TP NVIDIA ships there (None: not on one 8-GPU node). Every row is run through `place` (what `plan`
and `run --model` call) on an 8-GPU node of that GPU, and the rows whose GPU has a machine description are
run through `nimdoctor plan` itself. A second column runs vLLM's rule alone (`--nim-version 2.0.3`: NIM 2.x
serves every profile with vLLM), to show what the engine-aware model changes.

Agreement reached: 66 of 66 rows with the engine-aware model (shipped TPs first, as TensorRT-LLM engines),
and 53 of 66 with vLLM's rule alone (80 %). The rows where vLLM's rule differs say why (`differs`); the test
fails if a row that agreed stops agreeing, or one that differs starts to differ in another way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.cli.plan_cmd import plan_row
from nimdoctor.placement import ModelRequest, place
from nimdoctor.report import Capabilities
from nimdoctor.simulation.machine import Machine, load_builtin
from tests.placement import nodes

MIB = 2**20
L8, L70, L33 = "meta/llama-3.1-8b-instruct", "meta/llama-3.1-70b-instruct", "meta/llama-3.3-70b-instruct"
L1 = "meta/llama-3.2-1b-instruct"
L405 = "meta/llama-3.1-405b-instruct"
M7, M22 = "mistralai/mixtral-8x7b-instruct-v01", "mistralai/mixtral-8x22b-instruct-v01"
MI7 = "mistralai/mistral-7b-instruct-v0.3"
N49, N49V15 = "nvidia/llama-3.3-nemotron-super-49b-v1", "nvidia/llama-3.3-nemotron-super-49b-v1.5"

# Where each model's rows come from: (NIM release, cloudera/Model-Hub commit, path of the manifest copy).
MANIFESTS: dict[str, tuple[str, str, str]] = {
    L1: ("1.12.0", "71504bc", "manifests/1.19.0/nim/meta/llama-3.2-1b-instruct.yaml"),
    L8: ("1.13.1", "c64fba0", "manifests/1.15.0/nim/meta/llama-3.1-8b-instruct.yaml"),
    L70: ("1.14.0", "c64fba0", "manifests/1.15.0/nim/meta/llama-3.1-70b-instruct.yaml"),
    L33: ("1.14.0", "c64fba0", "manifests/1.15.0/nim/meta/llama-3.3-70b-instruct.yaml"),
    L405: ("1.3.0", "8337ed0", "manifests/1.10.0/nim/meta/llama-3_1-405b-instruct.yaml"),
    M7: ("1.12.0", "71504bc", "manifests/1.19.0/nim/mistralai/mixtral-8x7b-instruct-v0-1.yaml"),
    M22: ("1.2.2", "8022c92", "manifests/1.11.0/nim/mistralai/mixtral-8x22b-instruct-v01.yaml"),
    MI7: ("1.12.0", "71504bc", "manifests/1.19.0/nim/mistralai/mistral-7b-instruct-v0-3.yaml"),
    N49: ("1.10.1", "0e8927f", "manifests/1.12.0/nim/nvidia/llama-3.3-nemotron-super-49b-v1.yaml"),
    N49V15: ("1.14.0", "0e8927f", "manifests/1.12.0/nim/nvidia/llama-3.3-nemotron-super-49b-v1.5.yaml"),
}


def manifest(model: str) -> str:
    """The row source: the NIM manifest the shipped profiles were read from."""
    release, commit, path = MANIFESTS[model]
    return f"NIM {release} manifest of {model}, as copied in cloudera/Model-Hub@{commit}:{path}"


SL1, SL8, SL70, SL33, SL405, SM7, SM22, SMI7, SN49, SN49V15 = (
    manifest(m) for m in (L1, L8, L70, L33, L405, M7, M22, MI7, N49, N49V15)
)


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
    vllm_tp: int | None  # what vLLM's rule alone answers: expected_tp where it agrees
    differs: str  # why vLLM's rule differs from NVIDIA's


_SAME = -1


def row(
    model: str,
    gpu: str,
    precision: str,
    expected_tp: int | None,
    source: str,
    *,
    vllm_tp: int | None = _SAME,
    differs: str = "",
) -> Row:
    """A row; `vllm_tp` is given only where vLLM's rule alone answers otherwise than NVIDIA ships."""
    return Row(
        model, gpu, precision, expected_tp, source, expected_tp if vllm_tp == _SAME else vllm_tp, differs
    )


CAPPED = (
    "vLLM needs one full-length sequence within 0.9 of the GPU; NVIDIA's TensorRT-LLM engine at the "
    "smaller TP starts with a shorter context (its KV pool holds less than the default)"
)
NOT_SHIPPED = (
    "vLLM's rule fits a smaller TP than NVIDIA ships an engine for on this GPU; NIM 1.x runs the shipped "
    "engine, which is what `place` names"
)

ROWS = [
    row(L1, "H100", "fp8", 1, SL1),
    row(L1, "H100", "bf16", 1, SL1),
    row(L1, "H200", "fp8", 1, SL1),
    row(L1, "H200", "bf16", 1, SL1),
    row(L1, "A100", "bf16", 1, SL1),
    row(L1, "L40S", "fp8", 1, SL1),
    row(L1, "L40S", "bf16", 1, SL1),
    row(L1, "A10G", "bf16", 1, SL1),
    row(L8, "H100", "fp8", 1, SL8),
    row(L8, "H100", "bf16", 1, SL8),
    row(L8, "H200", "fp8", 1, SL8),
    row(L8, "H200", "bf16", 1, SL8),
    row(L8, "A100", "bf16", 1, SL8),
    row(L8, "L40S", "fp8", 1, SL8),
    row(L8, "L40S", "bf16", 1, SL8),
    row(L8, "A10G", "bf16", 4, SL8, vllm_tp=2, differs=NOT_SHIPPED),
    row(L70, "H100", "fp8", 2, SL70),
    row(L70, "H100", "bf16", 4, SL70),
    row(L70, "H200", "fp8", 1, SL70),
    row(L70, "H200", "bf16", 2, SL70),
    row(L70, "A100", "bf16", 4, SL70),
    row(L70, "L40S", "fp8", 4, SL70),
    row(L70, "L40S", "bf16", 4, SL70, vllm_tp=8, differs=CAPPED),
    row(L70, "A10G", "bf16", 8, SL70, vllm_tp=None, differs=CAPPED),
    row(L405, "H100", "fp8", 8, SL405),
    row(L33, "H100", "fp8", 2, SL33),
    row(L33, "H100", "bf16", 2, SL33, vllm_tp=4, differs=CAPPED),
    row(L33, "H200", "fp8", 1, SL33),
    row(L33, "H200", "bf16", 2, SL33),
    row(L33, "A100", "bf16", 2, SL33, vllm_tp=4, differs=CAPPED),
    row(L33, "L40S", "fp8", 4, SL33),
    row(L33, "L40S", "bf16", 4, SL33, vllm_tp=8, differs=CAPPED),
    row(L33, "A10G", "bf16", 8, SL33, vllm_tp=None, differs=CAPPED),
    row(N49, "H100", "fp8", 1, SN49, vllm_tp=2, differs=CAPPED),
    row(N49, "H100", "bf16", 2, SN49),
    row(N49, "H200", "fp8", 2, SN49, vllm_tp=1, differs=NOT_SHIPPED),
    row(N49, "H200", "bf16", 1, SN49),
    row(N49, "A100", "bf16", 2, SN49),
    row(N49, "L40S", "fp8", 4, SN49, vllm_tp=2, differs=NOT_SHIPPED),
    row(N49V15, "H100", "fp8", 1, SN49V15, vllm_tp=2, differs=CAPPED),
    row(N49V15, "H100", "bf16", 2, SN49V15),
    row(N49V15, "H200", "fp8", 1, SN49V15),
    row(N49V15, "H200", "bf16", 1, SN49V15),
    row(N49V15, "A100", "bf16", 2, SN49V15),
    row(N49V15, "L40S", "fp8", 4, SN49V15, vllm_tp=2, differs=NOT_SHIPPED),
    row(N49V15, "L40S", "bf16", 4, SN49V15),
    row(MI7, "H100", "fp8", 1, SMI7),
    row(MI7, "H100", "bf16", 1, SMI7),
    row(MI7, "H200", "fp8", 1, SMI7),
    row(MI7, "H200", "bf16", 1, SMI7),
    row(MI7, "A100", "bf16", 1, SMI7),
    row(MI7, "L40S", "fp8", 1, SMI7),
    row(MI7, "L40S", "bf16", 1, SMI7),
    row(MI7, "A10G", "bf16", 1, SMI7, vllm_tp=2, differs=CAPPED),
    row(M7, "H100", "fp8", 1, SM7),
    row(M7, "H100", "bf16", 2, SM7),
    row(M7, "H200", "fp8", 1, SM7),
    row(M7, "H200", "bf16", 1, SM7),
    row(M7, "A100", "bf16", 2, SM7),
    row(M7, "L40S", "fp8", 2, SM7),
    row(M7, "L40S", "bf16", 4, SM7),
    row(M7, "A10G", "bf16", 8, SM7),
    row(M22, "H100", "fp16", 8, SM22),
    row(M22, "H100", "int8", 4, SM22),
    row(M22, "A100", "fp16", 8, SM22),
    row(L405, "H100", "bf16", None, SL405 + " (fp16 ships as tp8-pp2: 16 GPUs, two nodes)"),
]
PLACE_AGREEMENT = 66  # rows where `place` names NVIDIA's smallest TP (or says no, as NVIDIA does)
VLLM_AGREEMENT = 53  # rows where vLLM's rule alone does


def _row_id(case: Row) -> str:
    return f"{case.model.rsplit('/', 1)[1]}-{case.gpu}-{case.precision}"


def placed_tp(case: Row, catalog: Catalog, nim_version: str | None = None) -> int | None:
    request = ModelRequest(case.model, precision=case.precision, nim_version=nim_version)
    placement = place(GPUS[case.gpu], request, catalog)
    return placement.requirement.tensor_parallel if placement.fits else None


def test_the_table_has_at_least_fifty_sourced_rows() -> None:
    assert len(ROWS) >= 50
    assert all(case.source.startswith("NIM ") for case in ROWS)
    assert len({_row_id(r) for r in ROWS}) == len(ROWS)


@pytest.mark.parametrize("case", ROWS, ids=_row_id)
def test_place_names_nvidias_smallest_shipped_tp(case: Row, catalog: Catalog) -> None:
    assert placed_tp(case, catalog) == case.expected_tp, case.source


@pytest.mark.parametrize("case", ROWS, ids=_row_id)
def test_vllms_rule_alone_or_the_documented_difference(case: Row, catalog: Catalog) -> None:
    assert placed_tp(case, catalog, "2.0.3") == case.vllm_tp, case.differs or case.source


def test_the_agreement_figures(catalog: Catalog) -> None:
    placed = sum(placed_tp(case, catalog) == case.expected_tp for case in ROWS)
    vllm = sum(placed_tp(case, catalog, "2.0.3") == case.expected_tp for case in ROWS)
    assert (placed, vllm, len(ROWS)) == (PLACE_AGREEMENT, VLLM_AGREEMENT, 66), (
        f"placement agrees with NVIDIA on {placed}/{len(ROWS)}, vLLM's rule alone on {vllm}"
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
        assert (answer.tensor_parallel if answer.fits else None) == case.expected_tp, _row_id(case)
        assert answer.precision == case.precision
