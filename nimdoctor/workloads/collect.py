"""Read what the workload rules need from a live cluster, read-only, with the official `kubernetes` client.

NIMServices and NIMCaches are listed (per namespace, or cluster-wide with `namespaces=None`). Secrets are
read one by one with `get`, only those the NIM objects name, never listed or watched: the audit's RBAC grants
`get` on Secrets per namespace. A Secret is reduced here, in memory, to its type and key names, and for a
docker-config secret to which registries it has logins for and whether the login's username is NGC's
`$oauthtoken`; its values go nowhere else. PVCs are read by name; StorageClasses, Nodes and NodeReports are
listed; the Kubernetes version and the scheduler's Lease are read. Anything refused or missing becomes an
error string in the snapshot, which the rules turn into `skip` with the reason.

NIMPipelines are not read: the operator creates a NIMService for each enabled service, which is judged.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nimdoctor.capacity.compute import Fleet
from nimdoctor.capacity.sources import FleetError, cluster_pods, fleet_of, node_allocatable
from nimdoctor.catalog import Catalog
from nimdoctor.cluster import nodereport
from nimdoctor.cluster.client import SERVICE_ACCOUNT_TOKEN, in_cluster
from nimdoctor.cluster.limits import PAGE_SIZE, ListTooLong, paginate
from nimdoctor.sanitize import clean_line
from nimdoctor.workloads.model import (
    DOCKER_TYPES,
    GROUP,
    PLURALS,
    VERSION,
    Cluster,
    DockerAuth,
    NodeInfo,
    ObjectError,
    PvcInfo,
    SecretInfo,
    StorageClassInfo,
    Subject,
    World,
    cache_index,
    parse_quantity,
    parse_version,
    pvc_name,
    subjects_of,
)
from nimdoctor.workloads.readers import at, text
from nimdoctor.workloads.schema.crds import SchemaSet, from_crds

DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
LIVE_KINDS = ("NIMCache", "NIMService")


class CollectError(Exception):
    """The cluster cannot be read at all: the API is unreachable, or listing NIM objects is refused."""


@dataclass(frozen=True)
class Snapshot:
    """What one collection found: the subjects, the world the rules see, and notes on what was missing."""

    subjects: list[Subject]
    world: World
    notes: list[str]


# What `_Api.list_all` answers: (items, None, None), or (None, HTTP status, reason).
Listed = tuple[list[Any] | None, int | None, str | None]


class _Api:
    """Raw JSON calls through the official client, with API errors turned into short reasons."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.storage = client.StorageV1Api(api_client)
        self.version = client.VersionApi(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
        self.extensions = client.ApiextensionsV1Api(api_client)

    @staticmethod
    def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int | None, str | None]:
        """(body, None, None), or (None, HTTP status, reason). Unreachable API: `CollectError`."""
        from kubernetes.client.rest import ApiException
        from urllib3.exceptions import HTTPError

        try:
            response = fn(*args, _preload_content=False, **kwargs)
            return json.loads(response.data), None, None
        except ApiException as exc:
            return None, exc.status, _reason(exc)
        except HTTPError as exc:
            cause = getattr(exc, "reason", None) or exc  # MaxRetryError wraps the last failure
            text = clean_line(f"{type(cause).__name__}: {cause}")
            raise CollectError(f"cannot reach the Kubernetes API: {text}") from None
        except ValueError as exc:
            return None, None, f"unreadable answer: {exc}"

    def list_all(self, fn: Callable[..., Any], *args: Any) -> Listed:
        """Every item of a list call, following `continue` tokens as far as `limits.paginate` allows."""

        def fetch(token: str | None) -> Mapping[str, Any]:
            kwargs: dict[str, Any] = {"limit": PAGE_SIZE, **({"_continue": token} if token else {})}
            body, status, reason = self.call(fn, *args, **kwargs)
            if not isinstance(body, Mapping):
                raise _ListFailed(status, reason or "the answer is not a JSON object")
            return body

        try:
            pages = list(paginate(fetch))
        except _ListFailed as exc:
            return None, exc.status, exc.reason
        except ListTooLong as exc:
            return None, None, str(exc)
        return [i for page in pages for i in page.get("items") or [] if isinstance(i, Mapping)], None, None


class _ListFailed(Exception):
    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _reason(exc: Any) -> str:
    """`403 Forbidden: <the API server's message>` (Status messages name objects, never their data), as one
    line with control characters replaced: the message quotes names that anyone creating objects chose."""
    message = ""
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        message = str(json.loads(exc.body).get("message") or "")
    return clean_line(f"{exc.status} {exc.reason}" + (f": {message[:300]}" if message else ""))


def collect(
    api_client: Any,
    namespaces: list[str] | None,
    catalog: Catalog,
    operator_version: tuple[int, int, int],
    now: dt.datetime | None = None,
) -> Snapshot:
    """Read the NIM objects in `namespaces` (None: all) and what their rules need. Read-only."""
    api = _Api(api_client)
    notes: list[str] = []
    subjects: list[Subject] = []
    for kind in LIVE_KINDS:
        for obj in _list_nim(api, kind, namespaces, notes):
            try:
                subjects.extend(subjects_of(obj))
            except ObjectError as exc:
                name = at(obj, "metadata", "name")
                notes.append(f"{kind} {name}: cannot be read: {exc}")
    errors: dict[str, str] = {}
    now = now or dt.datetime.now(dt.UTC)
    listed_nodes = api.list_all(api.core.list_node)
    listed_reports = api.list_all(
        api.custom.list_cluster_custom_object, nodereport.GROUP, nodereport.VERSION, nodereport.PLURAL
    )
    reports, stale, unusable = _reports(listed_reports, catalog, now, errors)
    cluster = Cluster(
        secrets=_secrets(api, subjects, catalog),
        pvcs=_pvcs(api, subjects),
        storage_classes=_storage_classes(api, errors),
        nodes=_nodes(listed_nodes, errors),
        reports=reports,
        stale_reports=stale,
        unusable_reports=unusable,
        version=_version(api, errors),
        scheduler_installed=_scheduler(api, catalog),
        fleet=_fleet(api_client, subjects, catalog, now, errors, listed_nodes[0], listed_reports[0]),
        errors=errors,
    )
    for what, reason in sorted(errors.items()):
        notes.append(f"{what}: {reason}")
    world = World(
        catalog=catalog,
        operator_version=operator_version,
        caches=cache_index(subjects),
        cluster=cluster,
        crd_schemas=_crd_schemas(api, notes) if subjects else None,
    )
    return Snapshot(subjects=subjects, world=world, notes=notes)


def _crd_schemas(api: _Api, notes: list[str]) -> SchemaSet | None:
    """The installed NIM CRDs' schemas, so that live objects are judged by what their cluster enforces; None
    (the vendored schemas for --operator-version, with a note) when one cannot be read."""
    crds = []
    for plural in PLURALS.values():
        name = f"{plural}.{GROUP}"
        body, _, reason = api.call(api.extensions.read_custom_resource_definition, name)
        if body is None:
            notes.append(f"customresourcedefinition {name}: {reason}; judged with the vendored CRD schemas")
            return None
        crds.append(body)
    return from_crds(crds)


def _list_nim(api: _Api, kind: str, namespaces: list[str] | None, notes: list[str]) -> list[Any]:
    plural = PLURALS[kind]
    calls: list[tuple[Callable[..., Any], tuple[str, ...], str]]
    if namespaces is None:
        calls = [(api.custom.list_cluster_custom_object, (GROUP, VERSION, plural), "all namespaces")]
    else:
        calls = [
            (api.custom.list_namespaced_custom_object, (GROUP, VERSION, ns, plural), f"namespace {ns}")
            for ns in namespaces
        ]
    items: list[Any] = []
    for fn, args, where in calls:
        found, status, reason = api.list_all(fn, *args)
        if found is not None:
            items.extend({**obj, "kind": kind} for obj in found)
        elif status == 404:
            notes.append(f"{plural}.{GROUP} not served: the NIM Operator's CRDs are not installed")
            return []
        else:
            raise CollectError(f"cannot list {plural} in {where}: {reason}")
    return items


def _secret_names(subject: Subject) -> set[str]:
    spec = subject.spec
    names: set[str | None] = set()
    if subject.kind == "NIMService":
        names.add(text(spec.get("authSecret")))
        pulls = at(spec, "image", "pullSecrets")
        names.update(text(p) for p in (pulls if isinstance(pulls, list) else []))
    else:
        for source in ("ngc", "hf", "dataStore"):
            names.add(text(at(spec, "source", source, "authSecret")))
            names.add(text(at(spec, "source", source, "pullSecret")))
    return {n for n in names if n}


def _secrets(api: _Api, subjects: list[Subject], catalog: Catalog) -> dict[tuple[str, str], SecretInfo]:
    username = str(catalog.get("NIM-WL-008").params["username"])
    wanted = sorted(
        {(s.ref.namespace, name) for s in subjects if s.ref.namespace for name in _secret_names(s)}
    )
    result: dict[tuple[str, str], SecretInfo] = {}
    for namespace, name in wanted:
        body, status, reason = api.call(api.core.read_namespaced_secret, name, namespace)
        if body is None:
            found = status != 404
            result[namespace, name] = SecretInfo(
                namespace, name, found=found, error=None if status == 404 else reason
            )
            continue
        result[namespace, name] = reduce_secret(namespace, name, body, username)
        del body  # the values go no further than this function
    return result


def reduce_secret(namespace: str, name: str, body: Mapping[str, Any], username: str) -> SecretInfo:
    """A Secret as type, key names and, for a docker config, registry hosts with logins (no values)."""
    data = body.get("data")
    data = data if isinstance(data, Mapping) else {}
    kind = text(body.get("type")) or "Opaque"
    docker = _docker_auth(kind, data, username) if kind in DOCKER_TYPES else None
    return SecretInfo(
        namespace, name, found=True, type=kind, keys=tuple(sorted(map(str, data))), docker=docker
    )


def registry_of(key: str) -> str:
    """A docker config's registry key (`https://nvcr.io/v2/`, `nvcr.io`) as a bare host."""
    host = key.strip().lower()
    for scheme in ("https://", "http://"):
        host = host.removeprefix(scheme)
    return host.split("/", 1)[0]


def _docker_auth(kind: str, data: Mapping[str, Any], username: str) -> DockerAuth:
    key = ".dockerconfigjson" if kind == "kubernetes.io/dockerconfigjson" else ".dockercfg"
    raw = data.get(key)
    if not isinstance(raw, str):
        return DockerAuth(error=f"no {key} key")
    try:
        config = json.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError):
        return DockerAuth(error=f"{key} is not base64-encoded JSON")
    auths = config.get("auths") if key == ".dockerconfigjson" and isinstance(config, dict) else config
    if not isinstance(auths, dict):
        return DockerAuth(error=f"{key} lists no registries")
    hosts: set[str] = set()
    oauth: set[str] = set()
    for registry, entry in auths.items():
        host = registry_of(str(registry))
        hosts.add(host)
        if isinstance(entry, dict) and _username(entry) == username:
            oauth.add(host)
    return DockerAuth(hosts=frozenset(hosts), oauth_hosts=frozenset(oauth))


def _username(entry: Mapping[str, Any]) -> str | None:
    """The login's username: `username`, else the part of `auth` (base64 user:password) before the colon."""
    if isinstance(entry.get("username"), str):
        return str(entry["username"])
    auth = entry.get("auth")
    if not isinstance(auth, str):
        return None
    try:
        user, _, _ = base64.b64decode(auth, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, ValueError):
        return None
    return user


def _pvcs(api: _Api, subjects: Iterable[Subject]) -> dict[tuple[str, str], PvcInfo]:
    wanted = sorted(
        {
            (s.ref.namespace, pvc_name(s))
            for s in subjects
            if s.ref.namespace and at(s.spec, "storage", "pvc") is not None
        }
    )
    result: dict[tuple[str, str], PvcInfo] = {}
    for namespace, name in wanted:
        body, status, reason = api.call(api.core.read_namespaced_persistent_volume_claim, name, namespace)
        if body is None:
            result[namespace, name] = PvcInfo(
                namespace, name, found=False, error=None if status == 404 else reason
            )
            continue
        modes = at(body, "spec", "accessModes")
        result[namespace, name] = PvcInfo(
            namespace,
            name,
            found=True,
            access_modes=tuple(str(m) for m in modes) if isinstance(modes, list) else (),
            storage_class=text(at(body, "spec", "storageClassName")),
            requested_bytes=parse_quantity(at(body, "spec", "resources", "requests", "storage")),
            capacity_bytes=parse_quantity(at(body, "status", "capacity", "storage")),
            phase=text(at(body, "status", "phase")),
        )
    return result


def _storage_classes(api: _Api, errors: dict[str, str]) -> tuple[StorageClassInfo, ...] | None:
    items, status, reason = api.list_all(api.storage.list_storage_class)
    if items is None:
        if status == 404:
            return ()
        errors["storageclasses"] = reason or "unknown error"
        return None
    classes = []
    for item in items:
        annotations = at(item, "metadata", "annotations") or {}
        default = any(str(annotations.get(a, "")).lower() == "true" for a in DEFAULT_CLASS_ANNOTATIONS)
        name = text(at(item, "metadata", "name"))
        if name:
            classes.append(StorageClassInfo(name=name, default=default))
    return tuple(classes)


def _nodes(listed: Listed, errors: dict[str, str]) -> tuple[NodeInfo, ...] | None:
    items, status, reason = listed
    if items is None:
        if status == 404:
            return ()
        errors["nodes"] = reason or "unknown error"
        return None
    nodes = []
    for item in items:
        name = text(at(item, "metadata", "name"))
        labels = at(item, "metadata", "labels")
        if name:
            labels = labels if isinstance(labels, Mapping) else {}
            nodes.append(NodeInfo(name=name, labels={str(k): str(v) for k, v in labels.items()}))
    return tuple(nodes)


def _reports(
    listed: Listed, catalog: Catalog, now: dt.datetime, errors: dict[str, str]
) -> tuple[dict[str, nodereport.NodeRecord] | None, int, dict[str, str]]:
    """Fresh NodeReports by node, how many were stale or unreadable, and why each unusable one (invalid, or
    simulated: judged as the extender judges them) is not used."""
    items, status, reason = listed
    if items is None:
        if status == 404:
            errors["nodereports"] = "not served: nimdoctor's NodeReport CRD is not installed"
            return {}, 0, {}
        errors["nodereports"] = reason or "unknown error"
        return None, 0, {}
    stale_after = float(catalog.get("NIM-WL-011").params["staleAfterSeconds"])
    fresh: dict[str, nodereport.NodeRecord] = {}
    unusable: dict[str, str] = {}
    stale = 0
    for item in items:
        try:
            node, record = nodereport.read_usable(item, trust_simulated=False)
        except nodereport.NodeReportError:
            stale += 1
            continue
        if isinstance(record, nodereport.Unusable):
            unusable[node] = record.describe()
        elif record.is_stale(now, stale_after):
            stale += 1
        else:
            fresh[record.node] = record
    return fresh, stale, unusable


def _fleet(
    api_client: Any,
    subjects: list[Subject],
    catalog: Catalog,
    now: dt.datetime,
    errors: dict[str, str],
    node_items: list[Any] | None,
    report_items: list[Any] | None,
) -> Fleet | None:
    """The fleet NIM-WL-020 counts capacity in, from the Nodes and NodeReports already listed; built only
    when a NIMService autoscales (it lists all pods)."""
    if not any(s.kind == "NIMService" and at(s.spec, "scale", "enabled") is True for s in subjects):
        return None
    if node_items is None or report_items is None:
        errors["fleet"] = "not counted: the Nodes or NodeReports could not be listed (see above)"
        return None
    stale_after = float(catalog.get("NIM-WL-011").params["staleAfterSeconds"])
    try:
        return fleet_of(
            node_allocatable([node_items]), [report_items], cluster_pods(api_client), stale_after, now
        )
    except FleetError as exc:
        errors["fleet"] = str(exc)
        return None


def _version(api: _Api, errors: dict[str, str]) -> tuple[int, int] | None:
    body, _, reason = api.call(api.version.get_code)
    parsed = parse_version(str(body.get("gitVersion", ""))) if isinstance(body, dict) else None
    if parsed is None:
        errors["version"] = reason or "no gitVersion in /version"
        return None
    return parsed[0], parsed[1]


def _scheduler(api: _Api, catalog: Catalog) -> bool | None:
    namespace, _, name = str(catalog.get("NIM-WL-018").params["schedulerLease"]).partition("/")
    body, status, _ = api.call(api.coordination.read_namespaced_lease, name, namespace)
    if body is not None:
        return True
    return False if status == 404 else None


def default_namespace(kubeconfig: Path | None) -> str:
    """The namespace kubectl would use: the pod's own in a cluster, else the kubeconfig context's, else
    `default`."""
    namespace_file = SERVICE_ACCOUNT_TOKEN.parent / "namespace"
    if kubeconfig is None and in_cluster() and namespace_file.is_file():
        return namespace_file.read_text().strip() or "default"
    from kubernetes import config

    try:
        _, active = config.list_kube_config_contexts(str(kubeconfig) if kubeconfig else None)
    except (config.ConfigException, OSError, TypeError):
        return "default"
    return str((active or {}).get("context", {}).get("namespace") or "default")
