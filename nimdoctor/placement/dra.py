"""GPUs a pod gets through Dynamic Resource Allocation, read from its resource claims (`claim_specs`).

A NIM Operator 3.x NIMService with `draResources` gives its pods `spec.resourceClaims` (each naming a
`resourceClaimTemplateName` or a `resourceClaimName`) and the NIM container `resources.claims`, and no
`nvidia.com/gpu` at all. The count and selectors are in the claim objects, which come from a lookup the
caller supplies (the extender's list+watch cache); `None` from it means the object has not been seen, and
the count is then unknown. A NIMService's own `draResources[].claimSpec` is read from the manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from nimdoctor import gpus as gpu_models
from nimdoctor.placement.claim_specs import (
    CLAIM,
    GPU_CLASS,
    MAX_REQUESTS,
    TEMPLATE,
    ClaimError,
    ClaimSpec,
    Selection,
    merge,
    shown,
)
from nimdoctor.placement.errors import RequirementError
from nimdoctor.placement.pod_fields import nim_container
from nimdoctor.report import Requirement
from nimdoctor.sanitize import clean_line


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
    return ClaimedGpus(count, every, tuple(unknown), merge(selections))


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
                unevaluable.append(shown(f"attributeSelector {key} {op}"))
        unevaluable.extend(shown(str(text)) for text in device.get("celExpressions") or [])
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
        selection=merge([c.selection for c in found]),
    )
