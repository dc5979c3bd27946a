"""Quantities as nimdoctor prints them."""

from __future__ import annotations


def gib(nbytes: float) -> str:
    """Bytes in GiB, the unit NVML's MiB add up to: a GPU's memory, and every need compared with it (never
    decimal GB against a card measured in GiB)."""
    return f"{nbytes / 2**30:.1f} GiB"
