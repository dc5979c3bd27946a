"""Fixtures for the NVML fake and the GPU probe: built-in machines, derived variants, a probe run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pynvml
import pytest

from nimdoctor.probes.gpu import probe_gpu
from nimdoctor.report import GpuFacts
from nimdoctor.simulation.fakenvml import FakeNvmlLib, installed
from nimdoctor.simulation.machine import FaultSpec, MachineSpec, load_builtin

FIXTURES = Path(__file__).parent.parent / "fixtures"


class Machines:
    """Built-in descriptions, variants derived from them, and probe runs through the real binding."""

    @staticmethod
    def builtin(name: str) -> MachineSpec:
        return load_builtin(name).spec

    @staticmethod
    def with_system(spec: MachineSpec, **changes: Any) -> MachineSpec:
        return msgspec.structs.replace(spec, system=msgspec.structs.replace(spec.system, **changes))

    @staticmethod
    def with_gpu(spec: MachineSpec, index: int, **changes: Any) -> MachineSpec:
        gpus = list(spec.gpus)
        gpus[index] = msgspec.structs.replace(gpus[index], **changes)
        return msgspec.structs.replace(spec, gpus=gpus)

    @classmethod
    def with_fault(cls, spec: MachineSpec, index: int, **fault: Any) -> MachineSpec:
        return cls.with_gpu(spec, index, faults=[FaultSpec(**fault)])

    @staticmethod
    def probe(spec: MachineSpec, deadline: float = 5.0) -> tuple[GpuFacts, FakeNvmlLib]:
        """Probe a description through the real `pynvml` module with the fake installed."""
        with installed(spec) as fake:
            facts = probe_gpu(pynvml, deadline=deadline)
        return facts, fake


@pytest.fixture(scope="session")
def machines() -> Machines:
    """Helpers for descriptions and probe runs (session-scoped, so property tests may use it too)."""
    return Machines()
