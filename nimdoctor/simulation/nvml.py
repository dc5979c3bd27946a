"""An NVML source answering from a machine description: the real binding over the fake library."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nimdoctor.probes.nvml_source import NvmlSource
from nimdoctor.simulation.machine import Machine


def simulated_nvml(machine: Machine) -> NvmlSource:
    """An NVML source answering from `machine`: each use installs a fresh fake library into `pynvml`.

    The description is checked here, once (`MachineError`); inside the block the real binding's wrappers
    run against the fake (`fakenvml`), and the module is restored on exit.
    """
    from nimdoctor.simulation import fakenvml

    topology = fakenvml.build_topology(machine.spec)

    @contextmanager
    def source() -> Iterator[Any]:
        import pynvml

        with fakenvml.installed(topology):
            yield pynvml

    return source
