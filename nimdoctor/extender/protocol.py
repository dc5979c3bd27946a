"""kube-scheduler's extender wire types (`k8s.io/kube-scheduler/extender/v1`), with their exact JSON keys.

The Go structs carry no `json:` tags, so the scheduler sends and expects the Go field names in PascalCase
(`Pod`, `Nodes`, `NodeNames`, `FailedAndUnresolvableNodes`, `Host`, `Score`), and sends the field it does not
use as JSON `null`. The embedded Pod and Node objects are ordinary Kubernetes JSON (camelCase). Node objects
of full-node mode are kept as raw JSON and echoed back unchanged: the scheduler maps survivors to its own
objects, and re-encoding them would cost milliseconds per request.
"""

from __future__ import annotations

from typing import Any

import msgspec


class ProtocolError(ValueError):
    """A request the extender cannot read; the message names the problem (answered with HTTP 400)."""


class NodeListIn(msgspec.Struct):
    """A v1.NodeList as the scheduler sends it in full-node mode (`nodeCacheCapable: false`)."""

    items: list[msgspec.Raw] | None = None


class NodeListOut(msgspec.Struct):
    """A v1.NodeList as the extender answers it: the surviving node objects, byte for byte."""

    items: list[msgspec.Raw]
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class ExtenderFilterResult(msgspec.Struct, rename="pascal"):
    """The filter response. Survivors go in the field of the request's mode; every rejected node is in a
    failure map with its reason (a node dropped without a reason vanishes from the scheduler's event)."""

    nodes: NodeListOut | None = None
    node_names: list[str] | None = None
    failed_nodes: dict[str, str] = msgspec.field(default_factory=dict)
    failed_and_unresolvable_nodes: dict[str, str] = msgspec.field(default_factory=dict)
    error: str = ""


class HostPriority(msgspec.Struct, rename="pascal"):
    """One node's score; the prioritize response is a bare JSON array of these. `Score` is an int64 in Go:
    a float such as 5.0 makes the scheduler drop every score of the answer."""

    host: str
    score: int


class ErrorBody(msgspec.Struct, rename="pascal"):
    """The body of a 400, 413 or 503 answer (the scheduler does not read it; people and logs do)."""

    error: str


class _Metadata(msgspec.Struct):
    name: str


class _NamedObject(msgspec.Struct):
    metadata: _Metadata


class Head(msgspec.Struct, rename="pascal"):
    """The filter and prioritize request (`ExtenderArgs`: `Pod`, and the candidate nodes in `NodeNames` or
    `Nodes`) read as far as a kept answer needs: the pod, and the candidate lists as their raw bytes (empty
    when absent). The lists are decoded only when the answer is computed (`candidates`)."""

    pod: dict[str, Any]
    nodes: msgspec.Raw = msgspec.Raw()
    node_names: msgspec.Raw = msgspec.Raw()


_HEAD = msgspec.json.Decoder(Head)
_NODES = msgspec.json.Decoder(NodeListIn | None)
_NAMES = msgspec.json.Decoder(list[str] | None)
_NAMED = msgspec.json.Decoder(_NamedObject)
_ENCODER = msgspec.json.Encoder()


class Candidates(msgspec.Struct, frozen=True):
    """A decoded request: the pod, the candidate node names in order, and how to answer survivors.

    `by_name` is True when the request carried `NodeNames` (answer in `NodeNames`); `items` holds the raw
    node objects when it carried `Nodes` (answer in `Nodes.items`). A request may carry both.
    """

    pod: dict[str, Any]
    names: list[str]
    by_name: bool
    items: list[msgspec.Raw] | None


def decode_head(body: bytes) -> Head:
    """Read an `ExtenderArgs` body's pod, leaving its candidate lists raw; raise `ProtocolError` naming
    what is wrong with it."""
    try:
        return _HEAD.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProtocolError(f"ExtenderArgs: {exc}") from None
    except RecursionError:
        raise ProtocolError("ExtenderArgs: JSON nested too deeply") from None


def _field(decoder: msgspec.json.Decoder[Any], raw: msgspec.Raw, field: str) -> Any:
    """One raw field decoded (absent: None); errors name the field's path, as a whole decode would."""
    if not raw:
        return None
    try:
        return decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        text = str(exc)
        where = f"`$.{field}"
        text = text.replace("`$", where, 1) if " - at `$" in text else f"{text} - at {where}`"
        raise ProtocolError(f"ExtenderArgs: {text}") from None
    except RecursionError:
        raise ProtocolError("ExtenderArgs: JSON nested too deeply") from None


def candidates(head: Head) -> Candidates:
    """The candidates of a request read by `decode_head`; raise `ProtocolError` naming what is wrong."""
    nodes: NodeListIn | None = _field(_NODES, head.nodes, "Nodes")
    node_names: list[str] | None = _field(_NAMES, head.node_names, "NodeNames")
    items = nodes.items if nodes is not None else None
    if nodes is not None and items is None:
        items = []
    if node_names is not None:
        names = node_names
    elif items is not None:
        names = [_node_name(raw, index) for index, raw in enumerate(items)]
    else:
        raise ProtocolError("ExtenderArgs: neither NodeNames nor Nodes is given")
    if node_names is not None and items is not None:
        item_names = [_node_name(raw, index) for index, raw in enumerate(items)]
        if item_names != names:
            raise ProtocolError("ExtenderArgs: NodeNames and Nodes.items name different nodes")
    return Candidates(pod=head.pod, names=names, by_name=node_names is not None, items=items)


def decode_args(body: bytes) -> Candidates:
    """Read an `ExtenderArgs` body; raise `ProtocolError` naming what is wrong with it."""
    return candidates(decode_head(body))


def _node_name(raw: msgspec.Raw, index: int) -> str:
    try:
        return _NAMED.decode(raw).metadata.name
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProtocolError(f"Nodes.items[{index}]: {exc}") from None


def filter_result(candidates: Candidates, survivors: list[str], failed: dict[str, str]) -> bytes:
    """The encoded filter answer: `survivors` in the request's field(s), every other node in `failed`."""
    result = ExtenderFilterResult(failed_and_unresolvable_nodes=failed)
    if candidates.by_name:
        result.node_names = survivors
    if candidates.items is not None:
        kept = [
            raw for raw, name in zip(candidates.items, candidates.names, strict=True) if name not in failed
        ]
        result.nodes = NodeListOut(items=kept)
    return _ENCODER.encode(result)


def encode(value: object) -> bytes:
    """JSON bytes of a protocol struct (or a list of them)."""
    return _ENCODER.encode(value)
