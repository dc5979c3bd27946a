"""Derive the compact node summary that placement decides on from a node's facts."""

from __future__ import annotations

from collections import Counter
from typing import Any

from msgspec import UNSET

from nimdoctor.gpus import product, version_tuple
from nimdoctor.report import Capabilities, Facts, GpuFacts, GpuInfo, MigSlice

MIG_STRATEGY_LABEL = "nvidia.com/mig.strategy"  # set by GPU Feature Discovery: none | single | mixed


def derive_capabilities(facts: Facts, *, ready: bool) -> Capabilities:
    """Capabilities of a node; a fact that was not measured stays absent, never guessed."""
    values: dict[str, Any] = {}
    runtime = facts.runtime
    if runtime is not UNSET and runtime.containerd is not UNSET:
        soft = runtime.containerd.nofile_soft
        if soft is not UNSET:
            values.update(nofile_soft=soft, nofile_unlimited=soft is None)
    if facts.gpu is not UNSET:
        values.update(gpu_capabilities(facts.gpu))
    if facts.node is not UNSET and values.get("mig_enabled"):
        strategy = facts.node.labels.get(MIG_STRATEGY_LABEL)
        if strategy in ("single", "mixed"):
            values["mig_strategy"] = strategy
    return Capabilities(ready=ready, **values)


def gpu_capabilities(gpu: GpuFacts) -> dict[str, Any]:
    """GPU fields of the capabilities, from the GPUs that answered (a lost GPU serves nothing)."""
    if gpu.nvml_error is not UNSET:
        return {}
    answering = [g for g in gpu.gpus if g.error is UNSET]
    values: dict[str, Any] = {"gpu_count": len(answering)}
    if gpu.driver_version:
        values["driver_version"] = gpu.driver_version
    if not answering:
        return values
    # Mixed models are listed together, so that no single product name pretends the node is homogeneous.
    products = Counter(product(g.name) for g in answering if g.name)
    if products:
        values["gpu_product"] = "+".join(sorted(products))
    memories = [g.memory_total_bytes for g in answering if g.memory_total_bytes is not None]
    if len(memories) == len(answering):
        values["gpu_memory_bytes"] = min(memories)
    values["max_nvlink_clique"] = gpu.nvlink.max_clique
    modes = {g.virtualization_mode for g in answering if g.virtualization_mode}
    if modes:
        values["virtualization"] = "+".join(sorted(modes))
    migs = [g.mig_enabled for g in answering if g.mig_enabled is not None]
    values["mig_enabled"] = any(migs)
    if any(migs):
        values["mig_slices"] = mig_slices(answering)
    ccs = [g.compute_capability for g in answering if g.compute_capability]
    if len(ccs) == len(answering):
        values["compute_capability"] = min(ccs, key=version_tuple)
    return values


def mig_slices(gpus: list[GpuInfo]) -> tuple[MigSlice, ...]:
    """MIG devices by profile across the GPUs: how many, and the smallest memory among them."""
    count: Counter[str] = Counter()
    memory: dict[str, int] = {}
    for gpu in gpus:
        for instance in gpu.mig_instances:
            count[instance.profile] += instance.count
            known = memory.get(instance.profile, instance.memory_bytes)
            memory[instance.profile] = min(known, instance.memory_bytes)
    return tuple(
        MigSlice(profile=name, memory_bytes=memory[name], count=count[name])
        for name in sorted(count, key=lambda p: (memory[p], p))
    )
