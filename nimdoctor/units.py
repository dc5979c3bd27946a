"""Quantities as nimdoctor prints them, and Kubernetes quantities as manifests and the API write them."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any


def gib(nbytes: float) -> str:
    """Bytes in GiB, the unit NVML's MiB add up to: a GPU's memory, and every need compared with it (never
    decimal GB against a card measured in GiB)."""
    return f"{nbytes / 2**30:.1f} GiB"


# Kubernetes resource quantities (`50Gi`, `100G`, `1.5Ti`, `500M`, `1e9`). kubernetes.utils.parse_quantity
# does this but importing it loads the whole API client (0.3 s), which `nimdoctor lint` has no other use for.
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_FACTORS: dict[str | None, Decimal | int] = {
    None: 1,
    "m": Decimal("0.001"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def parse_quantity(value: Any) -> int | None:
    """A Kubernetes quantity in whole units (bytes for storage); None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if not match:
        return None
    try:
        number = Decimal(match.group(1)) * _FACTORS[match.group(2)]
    except InvalidOperation:
        return None
    return int(number)
