"""ResourceClaimTemplates and ResourceClaims in memory, reduced to their GPU requests, for DRA NIM pods.

Fed by two list+watches (`cluster.watch.ListWatch`, `resource.k8s.io/v1`, all namespaces, read-only), the
way the report cache is fed by NodeReports. Each object is parsed once, when it arrives (`placement.dra`):
the cache holds only what decides a pod's GPU count and selectors, never the objects themselves, and at most
`max_objects` of each kind. The filter looks claims up by (kind, namespace, name); an object not (yet) seen
answers None, and the pod's count is then unknown (the extender judges each node with all its GPUs as the
upper bound). A claim nimdoctor cannot read counts as not seen, and is logged: the API server validated it,
so the fault is nimdoctor's, and the upper bound is the safe answer.

The cache never gates the extender's readiness: a cluster without DRA (no `resource.k8s.io/v1`, or no
RBAC for it) leaves it empty, and the watch keeps retrying with its backoff.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from nimdoctor.cluster.limits import MAX_ITEMS
from nimdoctor.placement.claim_specs import CLAIM, TEMPLATE, ClaimError, ClaimSpec, claim_spec_of
from nimdoctor.sanitize import clean_line

log = logging.getLogger(__name__)

GROUP = "resource.k8s.io"
VERSION = "v1"
PLURALS = {TEMPLATE: "resourceclaimtemplates", CLAIM: "resourceclaims"}
# Of each kind: the list cap every watch has, so the bound is reached by events, never refused by the list.
# Past it a list fails (and is retried): DRA pods are then judged with an unknown count, never guessed.
MAX_OBJECTS = MAX_ITEMS

Key = tuple[str, str]  # (namespace, name)


def _key(obj: Mapping[str, Any]) -> Key | None:
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    namespace, name = metadata.get("namespace"), metadata.get("name")
    if not isinstance(namespace, str) or not isinstance(name, str):
        return None
    return namespace, name


class ClaimCache:
    """Claim specs by kind and (namespace, name); `lookup` is the `placement.dra.ClaimLookup` of the filter.

    One writer per kind (its watch thread) replaces or updates that kind's dict; readers only `get` from it.
    """

    def __init__(self, max_objects: int = MAX_OBJECTS) -> None:
        self.max_objects = max_objects
        self._specs: dict[str, dict[Key, ClaimSpec]] = {kind: {} for kind in PLURALS}
        self._synced = {kind: threading.Event() for kind in PLURALS}
        # Changes with every list or event (after the change), so kept answers never outlive a claim change.
        self.generation = 0
        self._generation_lock = threading.Lock()

    def _changed(self) -> None:
        with self._generation_lock:
            self.generation += 1

    def lookup(self, kind: str, namespace: str, name: str) -> ClaimSpec | None:
        """The GPU requests of one claim or template; None when not seen (or it could not be read)."""
        specs = self._specs.get(kind)
        return specs.get((namespace, name)) if specs is not None else None

    def synced(self, kind: str) -> bool:
        """Whether a full list of `kind` has arrived."""
        return self._synced[kind].is_set()

    def counts(self) -> dict[str, int]:
        """Objects held, by kind (for the metrics)."""
        return {kind: len(specs) for kind, specs in self._specs.items()}

    def _parse(self, kind: str, obj: Mapping[str, Any]) -> tuple[Key, ClaimSpec] | None:
        key = _key(obj)
        if key is None:
            return None
        try:
            return key, claim_spec_of(kind, obj)
        except ClaimError as exc:
            where = clean_line(f"{key[0]}/{key[1]}")
            log.warning("%s %s left out (its GPU count counts as unknown): %s", kind, where, exc)
            return None

    def apply_list(self, kind: str, items: list[Mapping[str, Any]]) -> None:
        """A full list of `kind`: the cache holds exactly these (up to `max_objects`)."""
        specs: dict[Key, ClaimSpec] = {}
        for item in items:
            parsed = self._parse(kind, item)
            if parsed is not None and len(specs) < self.max_objects:
                specs[parsed[0]] = parsed[1]
        if len(items) > self.max_objects:
            log.warning("%d %s objects listed: only %d kept", len(items), kind, self.max_objects)
        self._specs[kind] = specs
        self._synced[kind].set()
        self._changed()

    def apply_event(self, kind: str, event: str, obj: Mapping[str, Any]) -> None:
        """One watch event of `kind`; an object that can no longer be read is forgotten."""
        specs = self._specs[kind]
        parsed = None if event == "DELETED" else self._parse(kind, obj)
        if parsed is None:
            key = _key(obj)
            if key is not None:
                specs.pop(key, None)
        elif parsed[0] in specs or len(specs) < self.max_objects:
            specs[parsed[0]] = parsed[1]
        self._changed()

    def handlers(
        self, kind: str
    ) -> tuple[Callable[[list[Mapping[str, Any]]], None], Callable[[str, Mapping[str, Any]], None]]:
        """`ListWatch`'s `on_list` and `on_event` for `kind`."""
        return (lambda items: self.apply_list(kind, items)), (
            lambda event, obj: self.apply_event(kind, event, obj)
        )
