"""Where NVML comes from: the real library through nvidia-ml-py, or a fake built from a machine description.

This is the only module that imports `pynvml`; probes receive the module as a parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from nimdoctor.probes.machine import Machine

NvmlSource = Callable[[], AbstractContextManager[Any]]


@contextmanager
def real_nvml() -> Iterator[Any]:
    """The `pynvml` module bound to the node's real `libnvidia-ml.so.1` (loaded on first use)."""
    import pynvml

    yield pynvml


def simulated_nvml(machine: Machine) -> NvmlSource:
    """An NVML source answering from `machine`: each use installs a fresh fake library into `pynvml`.

    The description is checked here, once (`MachineError`); inside the block the real binding's wrappers
    run against the fake (`fakenvml`), and the module is restored on exit.
    """
    from nimdoctor.probes import fakenvml

    topology = fakenvml.build_topology(machine.spec)

    @contextmanager
    def source() -> Iterator[Any]:
        import pynvml

        with fakenvml.installed(topology):
            yield pynvml

    return source
