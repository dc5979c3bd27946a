"""ResourceClaims and ResourceClaimTemplates (`resource.k8s.io/v1`) reduced to what decides a NIM pod's GPUs.

How many GPUs a claim gives is written in its spec: `spec.devices.requests[].exactly` with `deviceClassName:
gpu.nvidia.com` (the NVIDIA DRA driver's GPU class), `allocationMode: ExactCount` (the default) and `count`
(default 1), or `allocationMode: All` (every matching GPU on the node).

Selectors are CEL expressions over the attributes the NVIDIA DRA driver publishes per GPU (`productName`,
the NVML name; capacity `memory`, NVML's total in bytes). The simple forms NVIDIA's own operator writes are
read here: `device.attributes["gpu.nvidia.com"].productName == "<name>"` and
`device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("<q>")) <op> 0`, joined by `&&`. Anything else
is kept, verbatim and bounded, as unevaluable: never guessed. kube-scheduler's own DynamicResources plugin
enforces every selector anyway; these narrow the nodes nimdoctor judges, with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nimdoctor import gpus as gpu_models
from nimdoctor.sanitize import clean_line
from nimdoctor.units import parse_quantity

GPU_CLASS = "gpu.nvidia.com"
TEMPLATE = "ResourceClaimTemplate"
CLAIM = "ResourceClaim"
# resource.k8s.io/v1 validation: at most 32 requests per claim and 32 selectors per request; a CEL expression
# is at most 10 Ki characters. Past them an object is malformed.
MAX_REQUESTS = 32
MAX_SELECTORS = 32
MAX_EXPRESSION = 10 * 1024
MAX_SHOWN = 120  # characters of an unevaluable expression kept for logs and reasons

_DOMAIN = r"""\[\s*(["'])gpu\.nvidia\.com\1\s*\]"""
_PRODUCT = re.compile(
    rf"""^\(?\s*device\.attributes{_DOMAIN}\.productName\s*\)?\s*==\s*(["'])(?P<value>[^"'\\]*)\2$"""
)
_MEMORY = re.compile(
    rf"""^\(?\s*device\.capacity{_DOMAIN}\.memory\s*\)?\s*\.compareTo\(\s*quantity\(\s*(["'])(?P<value>[^"'\\]+)\2"""
    r"""\s*\)\s*\)\s*(?P<op>==|>=|<=|>|<)\s*0$"""
)


class ClaimError(ValueError):
    """A claim, a template or a pod's claim references that are malformed."""


@dataclass(frozen=True)
class Selection:
    """What the selectors of one request ask of a GPU, as far as they can be read."""

    product: str | None = None  # nimdoctor's product name (`H100-SXM`) of the productName asked for
    min_memory_bytes: int | None = None
    max_memory_bytes: int | None = None
    unevaluable: tuple[str, ...] = ()  # expressions (or parts) not read: said so, never guessed


@dataclass(frozen=True)
class GpuRequest:
    """One request of a claim for GPUs (device class `gpu.nvidia.com`)."""

    name: str
    count: int | None  # None: allocationMode All (every matching GPU on the node)
    selection: Selection = field(default_factory=Selection)


@dataclass(frozen=True)
class ClaimSpec:
    """The GPU part of a ResourceClaim's spec: its GPU requests, and the requests whose count cannot be known
    (`firstAvailable` alternatives)."""

    gpus: tuple[GpuRequest, ...] = ()
    uncounted: tuple[str, ...] = ()


def shown(expression: str) -> str:
    """An expression as one clean, bounded line (for logs and reasons)."""
    text = clean_line(" ".join(expression.split()))
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _strip_parens(text: str) -> str:
    """`(a && b)` -> `a && b`, only when the outer parentheses enclose the whole text."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for index, char in enumerate(text):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0 and index < len(text) - 1:
                return text
        text = text[1:-1].strip()
    return text


def _conjuncts(expression: str) -> list[str] | None:
    """The top-level `&&` parts of an expression, or None when it is not a plain conjunction."""
    text = _strip_parens(expression)
    if "||" in text or "?" in text:
        return None
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and text.startswith("&&", index):
            parts.append(text[start:index])
            start = index + 2
    parts.append(text[start:])
    return [part.strip() for part in parts]


def _bound(op: str, value: int, selection: dict[str, Any]) -> None:
    if op in ("==", ">=", ">"):
        low = value + 1 if op == ">" else value
        selection["min_memory_bytes"] = max(selection.get("min_memory_bytes") or 0, low)
    if op in ("==", "<=", "<"):
        high = value - 1 if op == "<" else value
        current = selection.get("max_memory_bytes")
        selection["max_memory_bytes"] = high if current is None else min(current, high)


def read_selectors(selectors: Any, where: str) -> Selection:
    """The product and memory bounds that `selectors` (a request's `selectors` list) ask for."""
    if selectors is None:
        return Selection()
    if not isinstance(selectors, list) or len(selectors) > MAX_SELECTORS:
        raise ClaimError(f"{where}.selectors: must be a list of at most {MAX_SELECTORS}")
    found: dict[str, Any] = {}
    products: set[str] = set()
    unevaluable: list[str] = []
    for index, selector in enumerate(selectors):
        cel = selector.get("cel") if isinstance(selector, Mapping) else None
        expression = cel.get("expression") if isinstance(cel, Mapping) else None
        if not isinstance(expression, str) or len(expression) > MAX_EXPRESSION:
            raise ClaimError(f"{where}.selectors[{index}].cel.expression: must be a string of at most 10Ki")
        parts = _conjuncts(expression)
        for part in parts if parts is not None else [expression]:
            product = _PRODUCT.match(part) if parts is not None else None
            memory = _MEMORY.match(part) if parts is not None else None
            size = parse_quantity(memory.group("value")) if memory else None
            if product:
                products.add(gpu_models.product(product.group("value")))
            elif memory and size is not None:
                _bound(memory.group("op"), size, found)
            else:
                unevaluable.append(shown(part))
    if len(products) > 1:
        unevaluable.append("productName == several products at once: no GPU matches")
    return Selection(
        product=products.pop() if len(products) == 1 else None,
        min_memory_bytes=found.get("min_memory_bytes"),
        max_memory_bytes=found.get("max_memory_bytes"),
        unevaluable=tuple(unevaluable),
    )


def _count(exactly: Mapping[str, Any], where: str) -> int | None:
    mode = exactly.get("allocationMode") or "ExactCount"
    if mode == "All":
        return None
    if mode != "ExactCount":
        raise ClaimError(f"{where}.allocationMode: {clean_line(str(mode))!r} is not ExactCount or All")
    count = exactly.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ClaimError(f"{where}.count: {clean_line(repr(count))} is not a positive integer")
    return count


def parse_claim_spec(spec: Any, where: str) -> ClaimSpec:
    """The GPU requests of a ResourceClaimSpec (`{devices: {requests: [...]}}`); `ClaimError` when malformed.

    Requests of other device classes (NICs, MIG devices, compute-domain channels) are not GPUs and are left
    out; a request with `firstAvailable` alternatives is listed as uncounted.
    """
    if not isinstance(spec, Mapping):
        raise ClaimError(f"{where}: must be a mapping")
    devices = spec.get("devices") or {}
    requests = devices.get("requests") if isinstance(devices, Mapping) else None
    if requests is None:
        return ClaimSpec()
    if not isinstance(requests, list) or len(requests) > MAX_REQUESTS:
        raise ClaimError(f"{where}.devices.requests: must be a list of at most {MAX_REQUESTS}")
    gpus: list[GpuRequest] = []
    uncounted: list[str] = []
    for index, request in enumerate(requests):
        path = f"{where}.devices.requests[{index}]"
        if not isinstance(request, Mapping) or not isinstance(request.get("name"), str):
            raise ClaimError(f"{path}: must be a mapping with a name")
        name = clean_line(request["name"])
        exactly = request.get("exactly")
        if request.get("firstAvailable") is not None:
            uncounted.append(name)
            continue
        if not isinstance(exactly, Mapping):
            raise ClaimError(f"{path}: needs exactly or firstAvailable")
        if exactly.get("deviceClassName") != GPU_CLASS:
            continue
        count = _count(exactly, f"{path}.exactly")
        gpus.append(GpuRequest(name, count, read_selectors(exactly.get("selectors"), f"{path}.exactly")))
    return ClaimSpec(tuple(gpus), tuple(uncounted))


def claim_spec_of(kind: str, obj: Mapping[str, Any]) -> ClaimSpec:
    """The claim spec of a ResourceClaim (`spec`) or a ResourceClaimTemplate (`spec.spec`)."""
    spec = obj.get("spec")
    if kind == TEMPLATE:
        spec = spec.get("spec") if isinstance(spec, Mapping) else None
        return parse_claim_spec(spec, "spec.spec")
    return parse_claim_spec(spec, "spec")


def merge(selections: Sequence[Selection]) -> Selection:
    """The selections of several requests together: their bounds intersected, a product only when one."""
    products = {s.product for s in selections if s.product is not None}
    lows = [s.min_memory_bytes for s in selections if s.min_memory_bytes is not None]
    highs = [s.max_memory_bytes for s in selections if s.max_memory_bytes is not None]
    unevaluable = tuple(text for s in selections for text in s.unevaluable)
    if len(products) > 1:
        unevaluable += ("requests select different GPU products",)
    return Selection(
        product=products.pop() if len(products) == 1 else None,
        min_memory_bytes=max(lows) if lows else None,
        max_memory_bytes=min(highs) if highs else None,
        unevaluable=unevaluable,
    )
