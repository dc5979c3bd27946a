"""What `nimdoctor lint` knows besides its NIM objects: the Secrets, PVCs and DRA claims of the same input.

A pre-apply lint resolves the names its own input defines (files and directories given together): a NIMService
naming a Secret, PVC or ResourceClaimTemplate of the same input is judged against it; only a name the input
lacks is left to a live cluster. A Secret is reduced here, as in `collect`, to its type, key names and a
docker config's registries: its values go no further. Where every object is defined is kept, so that two
definitions of one kind, namespace and name are reported rather than silently merged.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from nimdoctor.catalog import Catalog
from nimdoctor.workloads.collect import reduce_secret
from nimdoctor.workloads.manifests import Document
from nimdoctor.workloads.model import (
    FieldPath,
    Inputs,
    ObjectKey,
    PvcInfo,
    SecretInfo,
    Subject,
    World,
    cache_index,
    parse_quantity,
)
from nimdoctor.workloads.readers import at, mapping, text

CLAIM_KINDS = ("ResourceClaim", "ResourceClaimTemplate")


def objects(document: Document) -> Iterator[tuple[FieldPath, Mapping[str, Any]]]:
    """The objects of one document (the items of a `kind: List`), with where each sits."""
    data = document.data
    if isinstance(data, Mapping) and data.get("kind") == "List" and isinstance(data.get("items"), list):
        for index, item in enumerate(data["items"]):
            if isinstance(item, Mapping):
                yield ("items", index), item
    elif isinstance(data, Mapping):
        yield (), data


def _secret(namespace: str | None, name: str, body: Mapping[str, Any], username: str) -> SecretInfo:
    """A Secret manifest reduced like a live one; `stringData` keys count as `data` keys."""
    data = dict(mapping(body.get("data")))
    for key, value in mapping(body.get("stringData")).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    return reduce_secret(namespace or "", name, {"type": body.get("type"), "data": data}, username)


def _pvc(namespace: str | None, name: str, body: Mapping[str, Any]) -> PvcInfo:
    modes = at(body, "spec", "accessModes")
    return PvcInfo(
        namespace or "",
        name,
        found=True,
        access_modes=tuple(str(m) for m in modes) if isinstance(modes, list) else (),
        storage_class=text(at(body, "spec", "storageClassName")),
        requested_bytes=parse_quantity(at(body, "spec", "resources", "requests", "storage")),
    )


def lint_inputs(documents: Sequence[Document], subjects: Sequence[Subject], username: str) -> Inputs:
    """The Secrets, PVCs, claims and object places of a lint input."""
    secrets: dict[tuple[str | None, str], SecretInfo] = {}
    pvcs: dict[tuple[str | None, str], PvcInfo] = {}
    claims: dict[ObjectKey, Mapping[str, Any]] = {}
    places: dict[ObjectKey, list[str]] = {}
    for subject in subjects:
        if subject.document is not None:
            document = documents[subject.document]
            line, _ = document.locate(subject.name_path)
            key = (subject.ref.kind, subject.ref.namespace, subject.ref.name)
            places.setdefault(key, []).append(f"{document.file}:{line}")
    for document in documents:
        for prefix, body in objects(document):
            kind, name = body.get("kind"), text(at(body, "metadata", "name"))
            namespace = text(at(body, "metadata", "namespace"))
            if not isinstance(kind, str) or name is None or not isinstance(body.get("apiVersion"), str):
                continue
            api_version = str(body["apiVersion"])
            if kind == "Secret" and api_version == "v1":
                secrets.setdefault((namespace, name), _secret(namespace, name, body, username))
            elif kind == "PersistentVolumeClaim" and api_version == "v1":
                pvcs.setdefault((namespace, name), _pvc(namespace, name, body))
            elif kind in CLAIM_KINDS and api_version.startswith("resource.k8s.io/"):
                claims.setdefault((kind, namespace, name), body)
            else:
                continue
            line, _ = document.locate((*prefix, "metadata", "name"))
            places.setdefault((kind, namespace, name), []).append(f"{document.file}:{line}")
    return Inputs(
        secrets=secrets,
        pvcs=pvcs,
        claims=claims,
        places={key: tuple(where) for key, where in places.items()},
    )


def lint_world(
    documents: Sequence[Document],
    subjects: list[Subject],
    catalog: Catalog,
    operator_version: tuple[int, int, int],
) -> World:
    """The world `nimdoctor lint` judges in: no cluster, the input's NIMCaches and its other objects."""
    username = str(catalog.get("NIM-WL-008").params["username"])
    return World(
        catalog=catalog,
        operator_version=operator_version,
        caches=cache_index(subjects),
        inputs=lint_inputs(documents, subjects, username),
    )
