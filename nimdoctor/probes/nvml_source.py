"""Where NVML comes from on a real node: the library through nvidia-ml-py (`simulation.nvml` has the fake).

This is the only module that imports `pynvml`; probes receive the module as a parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

NvmlSource = Callable[[], AbstractContextManager[Any]]


@contextmanager
def real_nvml() -> Iterator[Any]:
    """The `pynvml` module bound to the node's real `libnvidia-ml.so.1` (loaded on first use)."""
    import pynvml

    yield pynvml
