"""What the workload rules judge: NIM objects ("subjects") and what is known of the cluster around them.

Pure data and small readers; no I/O. A subject is a NIMService, a NIMCache, or one service of a NIMPipeline
(its `spec` is a NIMService spec). `World` carries the NIMCaches a service may reference and, in a live
cluster only, a `Cluster` snapshot: Secrets reduced to type and key names, PVCs, StorageClasses, Nodes,
NodeReports, the Kubernetes version and whether nimdoctor's scheduler is installed. Secret values never
enter this module's types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

from nimdoctor.capacity.compute import Fleet
from nimdoctor.catalog import Catalog
from nimdoctor.cluster.nodereport import NodeRecord
from nimdoctor.report import Finding
from nimdoctor.units import parse_quantity as parse_quantity  # re-exported: the workload rules read it here
from nimdoctor.workloads.readers import at, text
from nimdoctor.workloads.schema.crds import SchemaSet

GROUP = "apps.nvidia.com"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
PLURALS = {"NIMService": "nimservices", "NIMCache": "nimcaches", "NIMPipeline": "nimpipelines"}
# [NVIDIA] The newest NIM Operator release the reference describes (3.1.4 docs); `--operator-version` default.
NEWEST_OPERATOR = (3, 1, 4)

FieldPath = tuple[str | int, ...]


class ObjectRef(msgspec.Struct, frozen=True):
    """A Kubernetes object by kind, namespace and name (uid when read from a cluster)."""

    kind: str
    namespace: str | None
    name: str
    uid: str | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


class Subject(msgspec.Struct, frozen=True):
    """One NIM object to judge.

    `spec` is the object's spec (a pipeline service's inner NIMService spec); `base` is where that spec sits
    in its document, so a rule's field path (relative to the spec) can be found in the file. `origin` is the
    object an Event goes to: the NIMPipeline for one of its services, else `ref` itself.
    """

    ref: ObjectRef
    spec: Mapping[str, Any]
    base: FieldPath = ("spec",)
    metadata: Mapping[str, Any] = msgspec.field(default_factory=dict)
    status: Mapping[str, Any] = msgspec.field(default_factory=dict)
    origin: ObjectRef | None = None
    document: int | None = None  # index into the lint input's documents

    @property
    def name_path(self) -> FieldPath:
        """Where the subject's name is in its document: the place for a finding about the whole object."""
        if self.origin is not None and self.origin.kind == "NIMPipeline":
            return (*self.base[:-1], "name")
        return (*self.base[:-1], "metadata", "name")

    @property
    def kind(self) -> str:
        """`NIMService` (also for a pipeline's service) or `NIMCache`."""
        return self.ref.kind

    def manifest(self) -> dict[str, Any]:
        """The subject as a NIMService/NIMCache manifest (for `placement.requirement_from_manifest`)."""
        metadata = {**self.metadata, "name": self.ref.name, "namespace": self.ref.namespace}
        return {"apiVersion": API_VERSION, "kind": self.kind, "metadata": metadata, "spec": self.spec}


def field_text(path: FieldPath) -> str:
    """`("spec", "services", 0, "spec", "replicas")` -> `spec.services[0].spec.replicas`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]" if text else part
    return text


class ObjectError(ValueError):
    """A NIM document whose shape cannot be read (no name, a spec that is not a mapping)."""

    def __init__(self, message: str, path: FieldPath = ()) -> None:
        super().__init__(message)
        self.path = path


def is_nim(doc: Any) -> bool:
    """A NIM Operator object of a kind the rules judge (other documents are ignored)."""
    return (
        isinstance(doc, Mapping)
        and isinstance(doc.get("apiVersion"), str)
        and doc["apiVersion"].startswith(f"{GROUP}/")
        and doc.get("kind") in PLURALS
    )


def subjects_of(doc: Mapping[str, Any], document: int | None = None, prefix: FieldPath = ()) -> list[Subject]:
    """The subjects in one NIM object: itself, or each enabled service of a NIMPipeline.

    `prefix` is where the object sits in its document (`("items", 3)` in a List). Raises `ObjectError` (with
    the path of the bad field) when the object cannot be read.
    """
    metadata = doc.get("metadata")
    if not isinstance(metadata, Mapping):
        raise ObjectError("metadata: expected a mapping", (*prefix, "metadata"))
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ObjectError("metadata.name: missing", (*prefix, "metadata"))
    namespace = metadata.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise ObjectError("metadata.namespace: expected a string", (*prefix, "metadata", "namespace"))
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        raise ObjectError("spec: expected a mapping", (*prefix, "spec"))
    raw_status = doc.get("status")
    status: Mapping[str, Any] = raw_status if isinstance(raw_status, Mapping) else {}
    uid = metadata.get("uid") if isinstance(metadata.get("uid"), str) else None
    ref = ObjectRef(str(doc["kind"]), namespace, name, uid)
    if ref.kind != "NIMPipeline":
        return [
            Subject(
                ref=ref,
                spec=spec,
                base=(*prefix, "spec"),
                metadata=metadata,
                status=status,
                origin=ref,
                document=document,
            )
        ]
    services = spec.get("services")
    if not isinstance(services, list):
        raise ObjectError("spec.services: expected a list", (*prefix, "spec", "services"))
    subjects = []
    for index, service in enumerate(services):
        where: FieldPath = (*prefix, "spec", "services", index)
        if not isinstance(service, Mapping):
            raise ObjectError(f"{field_text(where)}: expected a mapping", where)
        if service.get("enabled") is False:
            continue
        inner = service.get("spec")
        service_name = service.get("name")
        if not isinstance(inner, Mapping) or not isinstance(service_name, str) or not service_name:
            raise ObjectError(f"{field_text(where)}: needs a name and a spec mapping", where)
        subjects.append(
            Subject(
                ref=ObjectRef("NIMService", namespace, service_name),
                spec=inner,
                base=(*where, "spec"),
                metadata={"namespace": namespace},
                origin=ref,
                document=document,
            )
        )
    return subjects


# --- what a live cluster says -----------------------------------------------------------------------------


class DockerAuth(msgspec.Struct, frozen=True):
    """Which registries a docker-config secret has logins for, and for which of them the username is NGC's
    `$oauthtoken`. Never printed: hosts are part of the secret's data; rules only test membership."""

    hosts: frozenset[str] = frozenset()
    oauth_hosts: frozenset[str] = frozenset()
    error: str | None = None  # why the config could not be read (never quoting it)


DOCKER_TYPES = {"kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"}


class SecretInfo(msgspec.Struct, frozen=True):
    """A Secret reduced to its type and key names; `error` when reading it was refused or failed."""

    namespace: str
    name: str
    found: bool
    type: str | None = None
    keys: tuple[str, ...] = ()
    docker: DockerAuth | None = None
    error: str | None = None


class PvcInfo(msgspec.Struct, frozen=True):
    """A PersistentVolumeClaim as the cluster has it."""

    namespace: str
    name: str
    found: bool
    access_modes: tuple[str, ...] = ()
    storage_class: str | None = None
    requested_bytes: int | None = None
    capacity_bytes: int | None = None
    phase: str | None = None
    error: str | None = None


class StorageClassInfo(msgspec.Struct, frozen=True):
    """A StorageClass: its name and whether it is the cluster default."""

    name: str
    default: bool


class NodeInfo(msgspec.Struct, frozen=True):
    """A Node's name and labels."""

    name: str
    labels: Mapping[str, str]


class Cluster(msgspec.Struct, frozen=True):
    """What was read from a live cluster. A `None` collection could not be read; `errors` says why."""

    secrets: Mapping[tuple[str, str], SecretInfo] = msgspec.field(default_factory=dict)
    pvcs: Mapping[tuple[str, str], PvcInfo] = msgspec.field(default_factory=dict)
    storage_classes: tuple[StorageClassInfo, ...] | None = None
    nodes: tuple[NodeInfo, ...] | None = None
    reports: Mapping[str, NodeRecord] | None = None  # fresh, usable NodeReports by node name
    stale_reports: int = 0
    # NodeReports not used, by node: why (invalid, naming the field; or simulated), as the extender says it.
    unusable_reports: Mapping[str, str] = msgspec.field(default_factory=dict)
    version: tuple[int, int] | None = None
    scheduler_installed: bool | None = None
    # The fleet capacity counts in (NodeReports with GPU layouts, Nodes' devices, pods); read only when a
    # NIMService autoscales, None otherwise or when it could not be read (`errors["fleet"]`).
    fleet: Fleet | None = None
    errors: Mapping[str, str] = msgspec.field(default_factory=dict)  # "nodes", ... -> the reason


ObjectKey = tuple[str, str | None, str]  # (kind, namespace, name)


class Inputs(msgspec.Struct, frozen=True):
    """What a lint input holds besides its NIM subjects, so that names resolve offline.

    Secrets are reduced to type and key names (and a docker config's registries), as in a live cluster;
    `claims` holds the DRA ResourceClaims and ResourceClaimTemplates; `places` says where
    each object of the input is defined ("file:line"), once per definition: two places are a duplicate.
    """

    secrets: Mapping[tuple[str | None, str], SecretInfo] = msgspec.field(default_factory=dict)
    pvcs: Mapping[tuple[str | None, str], PvcInfo] = msgspec.field(default_factory=dict)
    claims: Mapping[ObjectKey, Mapping[str, Any]] = msgspec.field(default_factory=dict)
    places: Mapping[ObjectKey, tuple[str, ...]] = msgspec.field(default_factory=dict)


class World(msgspec.Struct, frozen=True):
    """Everything a workload rule may read besides its subject."""

    catalog: Catalog
    operator_version: tuple[int, int, int] = NEWEST_OPERATOR
    caches: Mapping[tuple[str | None, str], Subject] = msgspec.field(default_factory=dict)
    cluster: Cluster | None = None  # None: offline (lint)
    inputs: Inputs | None = None  # lint: the other objects of the same input
    crd_schemas: SchemaSet | None = None  # the installed NIM CRDs; None: vendored per operator_version

    def cache(self, namespace: str | None, name: str) -> Subject | None:
        """The NIMCache `name` in `namespace`, when known."""
        return self.caches.get((namespace, name))


def pvc_name(subject: Subject) -> str:
    """The PVC the operator uses for a subject's `storage.pvc`: its name, else `<object>-pvc`."""
    if subject.kind == "NIMCache":
        status_pvc = text(subject.status.get("pvc"))
        if status_pvc:
            return status_pvc
    return text(at(subject.spec, "storage", "pvc", "name")) or f"{subject.ref.name}-pvc"


def cache_index(subjects: list[Subject]) -> dict[tuple[str | None, str], Subject]:
    """NIMCache subjects by (namespace, name); of two with one name the first (the other is a finding)."""
    index: dict[tuple[str | None, str], Subject] = {}
    for s in subjects:
        if s.kind == "NIMCache":
            index.setdefault((s.ref.namespace, s.ref.name), s)
    return index


class Judged(msgspec.Struct, frozen=True):
    """A rule's finding and the field it is about (relative to the subject's spec; None: the object)."""

    finding: Finding
    field: FieldPath | None = None
    also: tuple[Judged, ...] = ()  # more findings of the same check (one per schema problem, say)


# --- small parsers ----------------------------------------------------------------------------------------


def gib(nbytes: int) -> str:
    """Bytes as a PVC size people write: whole GiB, rounded up."""
    return f"{-(-nbytes // 2**30)}Gi"


def parse_version(text: str) -> tuple[int, ...] | None:
    """`v3.1.2`, `3.1` or `1.34.1+k3s1` -> (3, 1, 2), (3, 1), (1, 34, 1); None when it is not a version."""
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not match:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def operator_version(text: str) -> tuple[int, int, int]:
    """A NIM Operator version for `--operator-version`; `ValueError` when it is not `X.Y[.Z]`."""
    parsed = parse_version(text)
    if parsed is None:
        raise ValueError(f"{text!r} is not a version like 3.1.2")
    return (parsed[0], parsed[1], parsed[2] if len(parsed) > 2 else 0)


def version_text(version: tuple[int, ...]) -> str:
    """(3, 1, 0) -> `3.1.0`."""
    return ".".join(map(str, version))
