"""The devices pods hold: `nvidia.com/gpu` and `nvidia.com/mig-<profile>` requests per node.

A pod holds its devices from the moment it is bound to a node (`spec.nodeName`) until it ends: pods in phase
`Succeeded` or `Failed` hold none (the kubelet has released their devices), every other bound pod holds what
kube-scheduler counts for it, its effective request: the larger of its containers' sum (restartable init
containers, sidecars, included) and its largest plain init container. A request given only as a limit counts
as the limit (extended resources cannot be overcommitted: the API server defaults the request to the limit).

Input is `kubectl get pods -A -o json` (a file) or pages of the same list from the API. Pods are decoded
one by one into small structs that keep only what is counted here, so 50,000 pods cost little memory; a pod
that cannot be read costs its own node an "unknown", never the whole answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

GPU = "nvidia.com/gpu"
MIG_PREFIX = "nvidia.com/mig-"
ENDED = frozenset({"Succeeded", "Failed"})
PART_OF, NIM_SERVICE = "app.kubernetes.io/part-of", "nim-service"
INSTANCE = "app.kubernetes.io/instance"  # the NIMService's name, on its pods
_MAX_DEVICES = 1 << 16  # no node holds more devices; a larger count is a broken pod, not a request


# gc=False: decoded JSON holds no reference cycles, and 50,000 pods' structs left out of the cycle
# collector's passes decode several times faster.
class _Resources(msgspec.Struct, kw_only=True, gc=False):
    requests: Any = None
    limits: Any = None


class _Container(msgspec.Struct, kw_only=True, gc=False, rename="camel"):
    resources: _Resources | None = None
    restart_policy: Any = None


class _Spec(msgspec.Struct, kw_only=True, gc=False, rename="camel"):
    node_name: Any = None
    containers: list[_Container] | None = None
    init_containers: list[_Container] | None = None


class _Status(msgspec.Struct, kw_only=True, gc=False):
    phase: Any = None


class _Metadata(msgspec.Struct, kw_only=True, gc=False):
    name: Any = None
    namespace: Any = None
    labels: Any = None


class _Pod(msgspec.Struct, kw_only=True, gc=False):
    metadata: _Metadata | None = None
    spec: _Spec | None = None
    status: _Status | None = None


class _Bound(msgspec.Struct, kw_only=True):
    """What is left of a pod that does not decode: where it is bound, to blame the right node."""

    spec: Any = None


class PodListError(ValueError):
    """A pod list that is not a list of pods at all (not JSON, no `items`)."""


class _List(msgspec.Struct, kw_only=True):
    items: list[msgspec.Raw] | None = None


class _Pods(msgspec.Struct, kw_only=True, gc=False):
    items: list[_Pod]  # required: a document without items goes the slow way, which says so


@dataclass
class Held:
    """Devices held per node, and the nodes whose count is unknown (a pod on them could not be read)."""

    devices: dict[str, dict[str, int]] = field(default_factory=dict)  # node -> resource -> devices
    # Replicas of each NIMService (namespace, name) that hold their devices now: the NIM Operator's pods,
    # standalone or multi-node leaders (workers carry no operator labels).
    services: Counter[tuple[str, str]] = field(default_factory=Counter)
    unknown: dict[str, str] = field(default_factory=dict)  # node -> why
    pods: int = 0  # pods read
    unplaced_errors: list[str] = field(default_factory=list)  # unreadable pods whose node is unknown too

    def add(self, item: msgspec.Raw | Mapping[str, Any]) -> None:
        """Count one pod (raw JSON, or a decoded object from an API page)."""
        try:
            pod = msgspec.json.decode(item, type=_Pod) if isinstance(item, msgspec.Raw) else _convert(item)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            self.pods += 1
            self._unreadable(item, f"pod {self.pods}: {exc}")
            return
        self.count(pod)

    def count(self, pod: _Pod) -> None:
        """Count one decoded pod."""
        self.pods += 1
        spec = pod.spec
        node = spec.node_name if spec is not None else None
        if spec is None or not node:
            return  # not bound: holds nothing yet
        if not isinstance(node, str):
            self.unplaced_errors.append(f"pod {self.pods}: spec.nodeName is not a string")
            return
        if pod.status is not None and pod.status.phase in ENDED:
            return
        try:
            held = effective_request(spec)
        except ValueError as exc:
            self.unknown.setdefault(node, f"{_name(pod)}: {exc}")
            return
        self._count_service(pod.metadata)
        if held:
            on_node = self.devices.get(node)
            if on_node is None:
                self.devices[node] = dict(held)
            else:
                for name, count in held.items():
                    on_node[name] = on_node.get(name, 0) + count

    def _count_service(self, metadata: _Metadata | None) -> None:
        labels = metadata.labels if metadata is not None else None
        if not isinstance(labels, dict) or labels.get(PART_OF) != NIM_SERVICE:
            return
        instance, namespace = labels.get(INSTANCE), metadata.namespace if metadata is not None else None
        if isinstance(instance, str) and isinstance(namespace, str):
            self.services[namespace, instance] += 1

    def _unreadable(self, item: msgspec.Raw | Mapping[str, Any], why: str) -> None:
        node = _bound_node(item)
        if node is None:
            self.unplaced_errors.append(why)
        else:
            self.unknown.setdefault(node, why)


def _convert(item: Mapping[str, Any]) -> _Pod:
    if not isinstance(item, Mapping):
        raise msgspec.ValidationError("not an object")
    return msgspec.convert(item, _Pod)


def _bound_node(item: msgspec.Raw | Mapping[str, Any]) -> str | None:
    try:
        spec = (
            msgspec.json.decode(item, type=_Bound).spec if isinstance(item, msgspec.Raw) else item.get("spec")
        )
    except (msgspec.ValidationError, msgspec.DecodeError, AttributeError):
        return None
    node = spec.get("nodeName") if isinstance(spec, Mapping) else None
    return node if isinstance(node, str) and node else None


def _name(pod: _Pod) -> str:
    meta = pod.metadata or _Metadata()
    return f"pod {str(meta.namespace)[:63]}/{str(meta.name)[:253]}"


def device_count(value: Any) -> int:
    """An extended-resource quantity: a whole number of devices (`1`, `"2"`); `ValueError` otherwise."""
    if type(value) is int:
        count = value
    elif isinstance(value, str) and value.strip().isdigit():
        count = int(value.strip())
    else:
        raise ValueError(f"device count {str(value)[:40]!r} is not a whole number")
    if not 0 <= count <= _MAX_DEVICES:
        raise ValueError(f"device count {count} is out of range")
    return count


def _devices(container: _Container) -> dict[str, int]:
    resources = container.resources
    if resources is None:
        return {}
    found: dict[str, int] = {}
    for part in (resources.limits, resources.requests):  # a request, when given, is what counts
        if not part:
            continue
        if type(part) is not dict:
            raise ValueError("resources must be a mapping")
        for name, value in part.items():
            if name == GPU or (type(name) is str and name.startswith(MIG_PREFIX)):
                found[name] = device_count(value)
    return found


def effective_request(spec: _Spec) -> dict[str, int]:
    """kube-scheduler's effective request of a pod, device resources only (see the module docstring)."""
    containers = spec.containers or ()
    if not spec.init_containers and len(containers) == 1:
        return _devices(containers[0])  # the common pod: one container, no init containers
    total: Counter[str] = Counter()
    for container in containers:
        total.update(_devices(container))
    largest_init: Counter[str] = Counter()
    sidecars: Counter[str] = Counter()
    for container in spec.init_containers or ():
        devices = Counter(_devices(container))
        if container.restart_policy == "Always":
            sidecars.update(devices)
            continue
        # A plain init container runs beside the sidecars started before it.
        largest_init |= devices + sidecars
    return dict(+((total + sidecars) | largest_init))


def held_by_pods(data: bytes) -> Held:
    """The devices held per node in a `kubectl get pods -A -o json` document; `PodListError` when it is not
    a pod list at all.

    Well-formed pods decode in one pass; when one does not, the list is read again pod by pod, so that the
    bad one costs only its node."""
    held = Held()
    try:
        pods = msgspec.json.decode(data, type=_Pods).items
    except msgspec.ValidationError:
        pods = None
    except msgspec.DecodeError as exc:
        raise PodListError(f"not a JSON pod list: {exc}") from exc
    if pods is not None:
        for pod in pods:
            held.count(pod)
        return held
    try:
        items = msgspec.json.decode(data, type=_List).items
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise PodListError(f"not a JSON pod list: {exc}") from exc
    if items is None:
        raise PodListError("not a pod list: no items (expected `kubectl get pods -A -o json`)")
    for item in items:
        held.add(item)
    return held
