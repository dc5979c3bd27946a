"""The placement thresholds, read once per catalog from the NIM-FIT entries' params."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from nimdoctor.catalog import Catalog, CatalogError, Check

CHECK_IDS: tuple[str, ...] = tuple(f"NIM-FIT-{n:03d}" for n in range(1, 12))
_V = TypeVar("_V")


class PerCatalog(Generic[_V]):
    """A value built once per catalog object (the catalog is immutable, but not hashable).

    Keyed by identity; a weak reference tells a live catalog from a new one that reuses a dead one's id.
    """

    def __init__(self, build: Callable[[Catalog], _V]) -> None:
        self._build = build
        self._slots: dict[int, tuple[weakref.ref[Catalog], _V]] = {}

    def __call__(self, catalog: Catalog) -> _V:
        key = id(catalog)
        slot = self._slots.get(key)
        if slot is not None and slot[0]() is catalog:
            return slot[1]
        value = self._build(catalog)
        self._slots[key] = (weakref.ref(catalog, lambda ref: self._forget(key, ref)), value)
        return value

    def _forget(self, key: int, ref: weakref.ref[Catalog]) -> None:
        slot = self._slots.get(key)
        if slot is not None and slot[0] is ref:
            del self._slots[key]


@dataclass(frozen=True)
class Settings:
    """Thresholds from `checks/placement.yaml` (or its overlay), validated."""

    checks: Mapping[str, Check]
    usable_fraction: float  # vLLM: of NVML's total; TensorRT-LLM: of the memory left after weights
    overhead_by_tp: tuple[tuple[int, int], ...]  # (TP, bytes per GPU): activations, CUDA graphs, buffers
    min_servable_context: int  # tokens: a TensorRT-LLM engine that holds fewer is no use
    kv_bytes_per_element: int  # KV-cache precision (bf16 unless a profile says fp8)
    min_nofile: int
    large_model_params_b: float
    max_tensor_parallel: int
    profile_tensor_parallel: tuple[int, ...]  # the TP sizes NIM profiles come in
    min_compute_capability: Mapping[str, tuple[int, int]]

    def overhead_bytes(self, tp: int) -> int:
        """The runtime's residual per GPU at tensor parallel `tp`: the calibrated size at `tp`, else at the
        next larger size calibrated, else at the largest."""
        return next((b for size, b in self.overhead_by_tp if size >= tp), self.overhead_by_tp[-1][1])


def parse_compute_capability(text: str) -> tuple[int, int] | None:
    """`"8.9"` -> (8, 9); `None` when it is not `major.minor`."""
    major, dot, minor = text.strip().partition(".")
    if not (dot and major.isdigit() and minor.isdigit()):
        return None
    return int(major), int(minor)


def _build(catalog: Catalog) -> Settings:
    missing = [check_id for check_id in CHECK_IDS if check_id not in catalog.checks]
    if missing:
        raise CatalogError(f"placement checks missing from the catalog: {', '.join(missing)}")
    checks = {check_id: catalog.get(check_id) for check_id in CHECK_IDS}

    def number(check_id: str, key: str, low: float, high: float | None = None) -> float:
        value = checks[check_id].params.get(key)
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or value <= low
            or (high is not None and value > high)
        ):
            bound = f"in ({low}, {high}]" if high is not None else f"above {low}"
            raise CatalogError(f"{check_id}: field 'params.{key}': must be a number {bound}, got {value!r}")
        return float(value)

    raw_cc: Any = checks["NIM-FIT-010"].params.get("minComputeCapability")
    if not isinstance(raw_cc, dict):
        raise CatalogError(
            "NIM-FIT-010: field 'params.minComputeCapability': must map each precision to 'major.minor'"
        )
    min_cc: dict[str, tuple[int, int]] = {}
    for precision, text in raw_cc.items():
        parsed = parse_compute_capability(str(text))
        if parsed is None:
            raise CatalogError(
                f"NIM-FIT-010: field 'params.minComputeCapability.{precision}': {text!r} is not 'major.minor'"
            )
        min_cc[str(precision)] = parsed
    raw_tps: Any = checks["NIM-FIT-011"].params.get("profileTensorParallel")
    if (
        not isinstance(raw_tps, list)
        or not raw_tps
        or not all(isinstance(t, int) and not isinstance(t, bool) and t > 0 for t in raw_tps)
    ):
        raise CatalogError(
            "NIM-FIT-011: field 'params.profileTensorParallel': must be a list of positive whole numbers"
        )
    return Settings(
        checks=checks,
        usable_fraction=number("NIM-FIT-001", "usableFraction", 0.0, 1.0),
        overhead_by_tp=_overhead_by_tp(checks["NIM-FIT-001"].params.get("runtimeOverheadGiBByTp")),
        min_servable_context=int(number("NIM-FIT-001", "minServableContext", 0.0)),
        kv_bytes_per_element=int(number("NIM-FIT-001", "kvCacheBytesPerElement", 0.0)),
        min_nofile=int(number("NIM-FIT-005", "minNofile", 0.0)),
        large_model_params_b=number("NIM-FIT-005", "largeModelParamsB", 0.0),
        max_tensor_parallel=int(number("NIM-FIT-006", "maxTensorParallel", 0.0)),
        profile_tensor_parallel=tuple(sorted(set(raw_tps))),
        min_compute_capability=min_cc,
    )


def _overhead_by_tp(raw: Any) -> tuple[tuple[int, int], ...]:
    """`{"1": 3.0, "2": 3.5, ...}` (GiB by TP) as ((1, bytes), (2, bytes), ...), sorted by TP."""
    where = "NIM-FIT-001: field 'params.runtimeOverheadGiBByTp'"
    if not isinstance(raw, dict) or not raw:
        raise CatalogError(f"{where}: must map tensor-parallel sizes to GiB")
    table = []
    for key, value in raw.items():
        size = str(key).strip()
        if not size.isdigit() or int(size) < 1:
            raise CatalogError(f"{where}: key {key!r} is not a tensor-parallel size")
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 64:
            raise CatalogError(f"{where}.{size}: must be a number of GiB in [0, 64], got {value!r}")
        table.append((int(size), round(value * 2**30)))
    return tuple(sorted(table))


settings = PerCatalog(_build)
"""`settings(catalog)`: the placement thresholds of this catalog, built once."""
