"""Which of a node's GPUs share an NVLink clique, and which NVML saw in use, from its report's GPU facts.

Capabilities carry only the largest clique; capacity needs the cliques themselves, to place a TP-4 replica
on 4 free GPUs of one clique. A GPU is "in use" when NVML showed memory used on it (free below total less
reserved) when the report was probed. Which GPU a pod holds is not in the API (the device plugin picks it
at allocation), so that is the only place the report says which GPUs are taken; capacity trusts it only
where it agrees with the pods (see `nimdoctor.capacity.compute`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GpuLayout:
    """NVLink cliques (GPU indices) and the GPUs NVML showed memory in use on (None: not known)."""

    cliques: tuple[frozenset[int], ...]
    in_use: frozenset[int] | None


_interned: dict[GpuLayout, GpuLayout] = {}
_MAX_INTERNED = 4096  # a fleet has a few shapes; past this many the table starts over (a leak guard)


def _get(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None  # decoded JSON: dicts (no ABC check)
    return value


def _index(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1024 else None


def gpu_layout(doc: Any) -> GpuLayout | None:
    """The layout in a `Report` document or a `NodeReport` object; None when its facts do not say.

    Only GPUs that answered NVML count (a lost GPU serves nothing, as in the capabilities). Equal layouts
    are shared, so 5,000 nodes of a few shapes cost a few objects.
    """
    facts = _get(doc, "status", "facts") if _get(doc, "kind") == "NodeReport" else _get(doc, "facts")
    gpus = _get(facts, "gpu", "gpus")
    cliques = _get(facts, "gpu", "nvlink", "cliques")
    if not isinstance(gpus, list) or not isinstance(cliques, list):
        return None
    answering: set[int] = set()
    in_use: set[int] | None = set()
    for gpu in gpus:
        index = _index(_get(gpu, "index"))
        if index is None or _get(gpu, "error") is not None:
            continue
        answering.add(index)
        total, reserved, free = (
            _get(gpu, key) for key in ("memoryTotalBytes", "memoryReservedBytes", "memoryFreeBytes")
        )
        if in_use is not None and all(isinstance(v, int) for v in (total, free)):
            if free < total - (reserved if isinstance(reserved, int) else 0):
                in_use.add(index)
        else:
            in_use = None
    found = []
    for clique in cliques:
        if not isinstance(clique, list):
            return None
        members = frozenset(i for i in map(_index, clique) if i is not None and i in answering)
        if members:
            found.append(members)
    layout = GpuLayout(tuple(found), None if in_use is None else frozenset(in_use))
    if len(_interned) >= _MAX_INTERNED:
        _interned.clear()
    return _interned.setdefault(layout, layout)
