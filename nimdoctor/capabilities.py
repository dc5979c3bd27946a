"""Derive the compact node summary that placement decides on from a node's facts."""

from __future__ import annotations

from msgspec import UNSET, UnsetType

from nimdoctor.report import Capabilities, Facts


def derive_capabilities(facts: Facts, *, ready: bool) -> Capabilities:
    """Capabilities of a node; a fact that was not measured stays absent, never guessed."""
    nofile_soft: int | UnsetType | None = UNSET
    nofile_unlimited: bool | UnsetType = UNSET
    runtime = facts.runtime
    if runtime is not UNSET and runtime.containerd is not UNSET:
        soft = runtime.containerd.nofile_soft
        if soft is not UNSET:
            nofile_soft = soft
            nofile_unlimited = soft is None
    return Capabilities(ready=ready, nofile_soft=nofile_soft, nofile_unlimited=nofile_unlimited)
