"""Which CRD schemas to judge with: vendored per NIM Operator release, or a cluster's installed CRDs.

The vendored files (`data/<version>.json.gz`, see data/README.md) are read once each, on first use.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

GROUP = "apps.nvidia.com"
SERVED = "v1alpha1"
_DATA = "data"


@dataclass(frozen=True, eq=False)
class SchemaSet:
    """The `openAPIV3Schema` of each NIM kind, and where it came from (said in findings)."""

    source: str
    kinds: Mapping[str, Mapping[str, Any]]

    def spec_schema(self, kind: str, pipeline_service: bool = False) -> Mapping[str, Any] | None:
        """The schema of a `kind` object's spec; of a NIMPipeline service's spec when `pipeline_service`."""
        root = self.kinds.get("NIMPipeline" if pipeline_service else kind)
        spec = _child(root, "spec")
        if pipeline_service:
            spec = _child(_items(_child(spec, "services")), "spec")
        return spec


def _child(schema: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    found = properties.get(name) if isinstance(properties, Mapping) else None
    return found if isinstance(found, Mapping) else None


def _items(schema: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    items = schema.get("items") if isinstance(schema, Mapping) else None
    return items if isinstance(items, Mapping) else None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split("."))


@functools.cache
def vendored_versions() -> tuple[tuple[int, ...], ...]:
    """The operator versions with vendored schemas, oldest first."""
    names = [p.name.removesuffix(".json.gz") for p in resources.files(__package__).joinpath(_DATA).iterdir()]
    return tuple(sorted(_version(n) for n in names if n[:1].isdigit()))


def pick(version: tuple[int, ...]) -> tuple[int, ...]:
    """The vendored version that stands for `version`: the newest not newer than it (else the oldest)."""
    known = vendored_versions()
    older = [v for v in known if v <= version]
    return older[-1] if older else known[0]


@functools.cache
def vendored(version: tuple[int, ...]) -> SchemaSet:
    """The vendored schemas for operator `version` (see `pick`)."""
    chosen = ".".join(map(str, pick(version)))
    raw = resources.files(__package__).joinpath(_DATA, f"{chosen}.json.gz").read_bytes()
    document = json.loads(gzip.decompress(raw))
    ref = document["ref"] if document["ref"] != document["commit"] else "main"
    source = f"the NIM Operator {chosen} CRDs ({ref} @ {document['commit'][:8]})"
    return SchemaSet(source=source, kinds=document["kinds"])


def from_crds(crds: Iterable[Mapping[str, Any]]) -> SchemaSet | None:
    """The schemas of installed CRD objects (as the API server returns them); None when none is a NIM kind."""
    kinds: dict[str, Mapping[str, Any]] = {}
    for crd in crds:
        spec = crd.get("spec") if isinstance(crd, Mapping) else None
        if not isinstance(spec, Mapping) or spec.get("group") != GROUP:
            continue
        kind = (spec.get("names") or {}).get("kind")
        for version in spec.get("versions") or []:
            schema = ((version or {}).get("schema") or {}).get("openAPIV3Schema")
            if version.get("name") == SERVED and isinstance(kind, str) and isinstance(schema, Mapping):
                kinds[kind] = schema
    return SchemaSet(source="the cluster's installed CRDs", kinds=kinds) if kinds else None
