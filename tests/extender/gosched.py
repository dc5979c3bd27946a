"""Read extender answers the way kube-scheduler's Go code does, without a scheduler.

Models kubernetes/kube-scheduler `extender/v1/types.go` (no json tags: Go field names as keys; Score int64)
and kubernetes/kubernetes `pkg/scheduler/extender.go` (HTTPExtender.Filter/Prioritize), `schedule_one.go`
(findNodesThatPassExtenders) and `framework/types.go` (FitError):

- `encoding/json` into the `extender/v1` structs: object keys match field names exactly or else
  case-insensitively; unknown keys are ignored; `null` leaves a field at its zero value (nil); an int64 field
  takes only an integer literal (`5.0`, `"5"` or `true` is an error that drops the whole answer).
- Filter: a non-empty `Error` fails the call. With `nodeCacheCapable`, a non-nil `NodeNames` names the
  survivors, and a name not in the request is an error; otherwise a non-nil `Nodes` does; otherwise (both
  nil) every node is filtered out. `FailedAndUnresolvableNodes` wins over `FailedNodes` for the same node.
- The FailedScheduling event: `0/N nodes are available: ` + the sorted "<count> <reason>" histogram + `.`.
  A dropped node in neither map adds no reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class GoDecodeError(Exception):
    """What `json.Unmarshal` would return: the scheduler drops the answer."""


class ExtenderError(Exception):
    """An extender call the scheduler treats as an error (SchedulerError, or ignored when ignorable)."""


class _Float(float):
    """A JSON number written with a fraction or exponent (Go will not put it in an int64)."""


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data, parse_float=_Float)
    except ValueError as exc:
        raise GoDecodeError(f"invalid JSON: {exc}") from exc


# A field type: "string", "int64", "raw" (any JSON kept as is), or ("slice"|"map"|"ptr", type),
# or ("struct", {GoFieldName: type}).
STRING_MAP = ("map", "string")
NODE_LIST = ("struct", {"Items": ("slice", "raw")})
FILTER_RESULT = (
    "struct",
    {
        "Nodes": ("ptr", NODE_LIST),
        "NodeNames": ("ptr", ("slice", "string")),
        "FailedNodes": STRING_MAP,
        "FailedAndUnresolvableNodes": STRING_MAP,
        "Error": "string",
    },
)
HOST_PRIORITY_LIST = ("slice", ("struct", {"Host": "string", "Score": "int64"}))


def decode(value: Any, kind: Any, path: str = "$") -> Any:
    """`value` (parsed JSON) as Go would decode it into `kind`; None stands for nil."""
    if value is None:
        return None
    if kind == "raw":
        return value
    if kind == "string":
        if not isinstance(value, str):
            raise GoDecodeError(f"{path}: cannot unmarshal {type(value).__name__} into string")
        return value
    if kind == "int64":
        if isinstance(value, bool) or not isinstance(value, int) or isinstance(value, _Float):
            raise GoDecodeError(f"{path}: cannot unmarshal {value!r} into int64")
        return value
    head, inner = kind
    if head == "ptr":
        return decode(value, inner, path)
    if head == "slice":
        if not isinstance(value, list):
            raise GoDecodeError(f"{path}: cannot unmarshal {type(value).__name__} into a slice")
        return [decode(v, inner, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        raise GoDecodeError(f"{path}: cannot unmarshal {type(value).__name__} into {head}")
    if head == "map":
        return {k: decode(v, inner, f"{path}.{k}") for k, v in value.items()}
    fields: dict[str, Any] = {}
    for key, item in value.items():
        name = key if key in inner else next((f for f in inner if f.lower() == key.lower()), None)
        if name is not None:  # unknown keys are ignored
            fields[name] = decode(item, inner[name], f"{path}.{key}")
    return fields


@dataclass
class FilterView:
    """The scheduler's view after one extender filter call."""

    feasible: list[str]
    # node -> (code, reasons); code is "UnschedulableAndUnresolvable" or "Unschedulable"
    statuses: dict[str, tuple[str, list[str]]] = field(default_factory=dict)


def read_filter(body: bytes, candidates: Sequence[str], *, node_cache_capable: bool) -> FilterView:
    """What kube-scheduler makes of a filter answer for `candidates`; raises GoDecodeError/ExtenderError."""
    result = decode(_loads(body), FILTER_RESULT)
    if result.get("Error"):
        raise ExtenderError(result["Error"])
    names = result.get("NodeNames")
    nodes = result.get("Nodes")
    if node_cache_capable and names is not None:
        for name in names:
            if name not in candidates:
                raise ExtenderError(
                    f"claims a filtered node {name!r} which is not found in the input node list"
                )
        feasible = list(names)
    elif nodes is not None:
        feasible = [item["metadata"]["name"] for item in nodes.get("Items") or []]
    else:
        feasible = []
    view = FilterView(feasible)
    unresolvable = result.get("FailedAndUnresolvableNodes") or {}
    for node, reason in unresolvable.items():
        view.statuses[node] = ("UnschedulableAndUnresolvable", [reason])
    for node, reason in (result.get("FailedNodes") or {}).items():
        if node not in unresolvable:
            view.statuses[node] = ("Unschedulable", [reason])
    return view


def read_prioritize(body: bytes) -> dict[str, int]:
    """Scores by host as the scheduler takes them; raises GoDecodeError (the scheduler drops them all)."""
    return {p["Host"]: p["Score"] for p in decode(_loads(body), HOST_PRIORITY_LIST) or []}


def event_message(total: int, statuses: Mapping[str, tuple[str, list[str]]]) -> str:
    """The FailedScheduling text `0/N nodes are available: <histogram>.` for these node statuses."""
    counts: dict[str, int] = {}
    for _, reasons in statuses.values():
        for reason in reasons:
            counts[reason] = counts.get(reason, 0) + 1
    histogram = sorted(f"{count} {reason}" for reason, count in counts.items())
    return f"0/{total} nodes are available: " + ", ".join(histogram) + "."
