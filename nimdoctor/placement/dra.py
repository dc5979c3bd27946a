"""GPUs a pod gets through Dynamic Resource Allocation (`resource.k8s.io/v1`), read from its resource claims.

A NIM Operator 3.x NIMService with `draResources` gives its pods `spec.resourceClaims` (each naming a
`resourceClaimTemplateName` or a `resourceClaimName`) and the NIM container `resources.claims`, and no
`nvidia.com/gpu` at all. How many GPUs the pod gets is written in the claim (or the template's claim spec):
`spec.devices.requests[].exactly` with `deviceClassName: gpu.nvidia.com` (the NVIDIA DRA driver's GPU class),
`allocationMode: ExactCount` (the default) and `count` (default 1), or `allocationMode: All` (every matching
GPU on the node).

Selectors are CEL expressions over the attributes the NVIDIA DRA driver publishes per GPU (`productName`,
the NVML name; capacity `memory`, NVML's total in bytes). The simple forms NVIDIA's own operator writes are
read here: `device.attributes["gpu.nvidia.com"].productName == "<name>"` and
`device.capacity["gpu.nvidia.com"].memory.compareTo(quantity("<q>")) <op> 0`, joined by `&&`. Anything else
is kept, verbatim and bounded, as unevaluable: never guessed. kube-scheduler's own DynamicResources plugin
enforces every selector anyway; these narrow the nodes nimdoctor judges, with a reason.

Pure: the claims come from a lookup the caller supplies (the extender's list+watch cache); `None` from it
means the object has not been seen, and the count is then unknown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from nimdoctor import gpus as gpu_models
from nimdoctor.placement.errors import RequirementError
from nimdoctor.placement.pod_fields import nim_container
from nimdoctor.report import Requirement
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


@dataclass(frozen=True)
class ClaimRef:
    """A claim the NIM container uses: the pod's claim entry, the object behind it, and the request it is
    limited to (`resources.claims[].request`), if any."""

    kind: str  # ResourceClaimTemplate | ResourceClaim
    name: str
    request: str | None = None


# (kind, namespace, name) -> the claim spec, or None when the object has not been seen.
ClaimLookup = Callable[[str, str, str], ClaimSpec | None]


@dataclass(frozen=True)
class ClaimedGpus:
    """The GPUs a container gets from its claims.

    `count` sums the exact counts; `every` is set when a request takes every matching GPU on the node;
    `unknown` says why the count cannot be known (a claim not seen, a request with alternatives).
    """

    count: int = 0
    every: bool = False
    unknown: tuple[str, ...] = ()
    selection: Selection = field(default_factory=Selection)

    @property
    def mode(self) -> str:
        """`unknown`, `all` (every GPU of the node) or `count`."""
        if self.unknown:
            return "unknown"
        return "all" if self.every else "count"


def _shown(expression: str) -> str:
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
                unevaluable.append(_shown(part))
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


# --- the pod's side ------------------------------------------------------------------------------------


def _pod_claims(spec: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Pod claim name -> (kind, object name), from `spec.resourceClaims`."""
    raw = spec.get("resourceClaims") or []
    if not isinstance(raw, list) or len(raw) > MAX_REQUESTS:
        raise ClaimError(f"spec.resourceClaims: must be a list of at most {MAX_REQUESTS}")
    claims: dict[str, tuple[str, str]] = {}
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise ClaimError(f"spec.resourceClaims[{index}].name: missing")
        name = entry["name"]
        template, claim = entry.get("resourceClaimTemplateName"), entry.get("resourceClaimName")
        if isinstance(template, str) and template:
            claims[name] = (TEMPLATE, template)
        elif isinstance(claim, str) and claim:
            claims[name] = (CLAIM, claim)
        else:
            raise ClaimError(
                f"spec.resourceClaims[{index}]: names no resourceClaimTemplateName or resourceClaimName"
            )
    return claims


def container_claims(spec: Mapping[str, Any], container: Mapping[str, Any], path: str) -> list[ClaimRef]:
    """The claims `container` uses (`resources.claims`), resolved through the pod's `spec.resourceClaims`."""
    resources = container.get("resources") or {}
    raw = resources.get("claims") if isinstance(resources, Mapping) else None
    if not raw:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_REQUESTS:
        raise ClaimError(f"{path}.resources.claims: must be a list of at most {MAX_REQUESTS}")
    pod_claims = _pod_claims(spec)
    refs = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping) or entry.get("name") not in pod_claims:
            raise ClaimError(f"{path}.resources.claims[{index}]: names no entry of spec.resourceClaims")
        name = entry["name"]
        request = entry.get("request")
        kind, object_name = pod_claims[name]
        refs.append(ClaimRef(kind, object_name, request if isinstance(request, str) and request else None))
    return refs


def uses_claims(pod: Mapping[str, Any]) -> bool:
    """Whether a pod has resource claims (any JSON value is taken: the pod comes off the wire)."""
    spec = pod.get("spec")
    claims = spec.get("resourceClaims") if isinstance(spec, Mapping) else None
    return isinstance(claims, list) and bool(claims)


def _merge(selections: Sequence[Selection]) -> Selection:
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


def claimed_gpus(refs: Sequence[ClaimRef], namespace: str, lookup: ClaimLookup | None) -> ClaimedGpus:
    """The GPUs the claims `refs` give a container in `namespace`; unknown where `lookup` has not seen one."""
    count, every = 0, False
    unknown: list[str] = []
    selections: list[Selection] = []
    for ref in refs:
        spec = lookup(ref.kind, namespace, ref.name) if lookup is not None else None
        if spec is None:
            unknown.append(f"{ref.kind} {namespace}/{clean_line(ref.name)} not seen")
            continue
        wanted = [g for g in spec.gpus if ref.request is None or g.name == ref.request]
        unknown.extend(
            f"{ref.kind} {namespace}/{clean_line(ref.name)} request {name} has alternatives (firstAvailable)"
            for name in spec.uncounted
            if ref.request is None or name == ref.request
        )
        for request in wanted:
            every = every or request.count is None
            count += request.count or 0
            selections.append(request.selection)
    return ClaimedGpus(count, every, tuple(unknown), _merge(selections))


def claimed_container(
    spec: Mapping[str, Any],
    containers: Sequence[Mapping[str, Any]],
    namespace: str,
    lookup: ClaimLookup | None,
    where: str,
) -> tuple[int, ClaimedGpus] | None:
    """The NIM container among those that use resource claims (an nvcr.io/nim image first) and the GPUs its
    claims give it; None when no container uses a claim. `RequirementError` for malformed claim references."""
    try:
        refs = [container_claims(spec, c, f"spec.containers[{i}]") for i, c in enumerate(containers)]
    except ClaimError as exc:
        raise RequirementError(f"{where}: {exc}") from None
    if not any(refs):
        return None
    index = nim_container(containers, [len(r) for r in refs])
    return index, claimed_gpus(refs[index], namespace, lookup)


def gpu_count(claimed: ClaimedGpus, node_gpus: int | None, *, tp_fixed: bool) -> int | None:
    """The GPU count to judge a pod by: the claims' exact count; every GPU of the node for `All`; for an
    unknown count, at most the node's GPUs (None, the least its layout needs, when its TP is fixed or no
    node is given)."""
    if claimed.mode == "count":
        return claimed.count
    if claimed.mode == "all" or not tp_fixed:
        return node_gpus
    return None


def with_claims(requirement: Requirement, claimed: ClaimedGpus) -> Requirement:
    """`requirement` marked with how its GPU count came from claims, and what their selectors ask for."""
    selection = claimed.selection
    return msgspec.structs.replace(
        requirement,
        claims=claimed.mode,
        claim_gpu=selection.product,
        claim_min_memory_bytes=selection.min_memory_bytes,
        claim_max_memory_bytes=selection.max_memory_bytes,
        claim_unevaluable=selection.unevaluable,
    )


def _creation_spec(entry: Mapping[str, Any], path: str) -> ClaimedGpus:
    """The GPUs a NIMService `draResources[].claimSpec` (`claimCreationSpec` in older docs) asks for: devices
    of class `gpu.nvidia.com` (the default), `count` each (default 1); a `productName` Equal selector."""
    devices = entry.get("devices")
    if not isinstance(devices, list) or len(devices) > MAX_REQUESTS:
        raise ClaimError(f"{path}.devices: must be a list of at most {MAX_REQUESTS}")
    count, products, unevaluable = 0, set(), []
    for index, device in enumerate(devices):
        if not isinstance(device, Mapping):
            raise ClaimError(f"{path}.devices[{index}]: must be a mapping")
        if (device.get("deviceClassName") or GPU_CLASS) != GPU_CLASS:
            continue
        number = device.get("count", 1)
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ClaimError(
                f"{path}.devices[{index}].count: {clean_line(repr(number))} is not a positive integer"
            )
        count += number
        for selector in device.get("attributeSelectors") or []:
            key = str(selector.get("key", "")) if isinstance(selector, Mapping) else ""
            value = selector.get("value") if isinstance(selector, Mapping) else None
            text = value.get("stringValue") if isinstance(value, Mapping) else None
            op = selector.get("op", "Equal") if isinstance(selector, Mapping) else None
            if key.rsplit("/", 1)[-1] == "productName" and op == "Equal" and isinstance(text, str):
                products.add(gpu_models.product(text))
            else:
                unevaluable.append(_shown(f"attributeSelector {key} {op}"))
        unevaluable.extend(_shown(str(text)) for text in device.get("celExpressions") or [])
    product = products.pop() if len(products) == 1 else None
    return ClaimedGpus(count, selection=Selection(product=product, unevaluable=tuple(unevaluable)))


def nimservice_claims(spec: Mapping[str, Any], where: str) -> ClaimedGpus | None:
    """The GPUs a NIMService's `spec.draResources` give its pods, as far as the manifest says: counted from a
    `claimSpec`; unknown for a `resourceClaimName` or `resourceClaimTemplateName` (the count is in that
    object). None when the service has no draResources. `RequirementError` when malformed."""
    entries = spec.get("draResources")
    if not entries:
        return None
    if not isinstance(entries, list) or len(entries) > MAX_REQUESTS:
        raise RequirementError(f"{where}: spec.draResources: must be a list of at most {MAX_REQUESTS}")
    found: list[ClaimedGpus] = []
    unknown: list[str] = []
    try:
        for index, entry in enumerate(entries):
            path = f"spec.draResources[{index}]"
            if not isinstance(entry, Mapping):
                raise ClaimError(f"{path}: must be a mapping")
            creation = entry.get("claimSpec") or entry.get("claimCreationSpec")
            if isinstance(creation, Mapping):
                found.append(_creation_spec(creation, f"{path}.claimSpec"))
                continue
            named = entry.get("resourceClaimTemplateName") or entry.get("resourceClaimName")
            kind = TEMPLATE if entry.get("resourceClaimTemplateName") else CLAIM
            unknown.append(
                f"{kind} {clean_line(str(named))}: its GPU count is in that object, not the manifest"
            )
    except ClaimError as exc:
        raise RequirementError(f"{where}: {exc}") from None
    return ClaimedGpus(
        count=sum(c.count for c in found),
        unknown=tuple(unknown),
        selection=_merge([c.selection for c in found]),
    )
