"""Building a NIM namespace in the kmock emulator: NIM objects, Secrets, PVCs, StorageClasses, Nodes and
NodeReports, written through kmock's object store the way the API server would hold them."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import kmock

from nimdoctor.catalog import load_catalog
from nimdoctor.diagnose import diagnose
from nimdoctor.report import format_time, to_builtins
from nimdoctor.simulation.machine import load_builtin
from nimdoctor.simulation.simulate import machine_sources
from tests.kube import Emulator, write_kubeconfig

NS = "nim-service"
NIM = "apps.nvidia.com/v1alpha1"
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def nimservice(name: str, pull: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    """A NIMService like the operator's basic sample, with `spec` keys replaced (`pull`: its pullSecrets)."""
    base: dict[str, Any] = {
        "image": {
            "repository": "nvcr.io/nim/meta/llama-3.2-1b-instruct",
            "tag": "1.12.0",
            "pullSecrets": ["ngc-secret"],
        },
        "authSecret": "ngc-api-secret",
        "storage": {"nimCache": {"name": "llama-cache", "profile": ""}},
        "replicas": 1,
        "resources": {"limits": {"nvidia.com/gpu": 1}},
    }
    if pull is not None:
        base["image"]["pullSecrets"] = pull
    base.update(spec)
    return {
        "apiVersion": NIM,
        "kind": "NIMService",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}"},
        "spec": base,
    }


def nimcache(
    name: str,
    state: str | None = "Ready",
    puller: str = "nvcr.io/nim/meta/llama-3.2-1b-instruct:1.12.0",
    **spec: Any,
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "source": {
            "ngc": {
                "modelPuller": puller,
                "pullSecret": "ngc-secret",
                "authSecret": "ngc-api-secret",
                "model": {"engine": "tensorrt_llm", "tensorParallelism": "1"},
            }
        },
        "storage": {"pvc": {"create": True, "size": "50Gi", "volumeAccessMode": "ReadWriteMany"}},
    }
    base.update(spec)
    obj: dict[str, Any] = {
        "apiVersion": NIM,
        "kind": "NIMCache",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}"},
        "spec": base,
    }
    if state is not None:
        obj["status"] = {"state": state, "pvc": f"{name}-pvc"}
    return obj


def api_key_secret(
    name: str = "ngc-api-secret", value: str = "nvapi-xxxx", key: str = "NGC_API_KEY"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "type": "Opaque",
        "data": {key: b64(value)},
    }


def registry_secret(
    name: str = "ngc-secret",
    host: str = "nvcr.io",
    username: str = "$oauthtoken",
    password: str = "nvapi-xxxx",
) -> dict[str, Any]:
    config = {
        "auths": {host: {"username": username, "password": password, "auth": b64(f"{username}:{password}")}}
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": b64(json.dumps(config))},
    }


def pvc(
    name: str,
    modes: list[str],
    phase: str = "Bound",
    storage_class: str | None = "rwx",
    capacity: str = "50Gi",
) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": modes, "resources": {"requests": {"storage": "50Gi"}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
        "status": {"phase": phase, "capacity": {"storage": capacity}},
    }


def storage_class(name: str, default: bool = False) -> dict[str, Any]:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": annotations},
        "provisioner": "example.com/nfs",
    }


def node(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


NFD = {"feature.node.kubernetes.io/pci-10de.present": "true"}


def nodereport(node_name: str, machine: str, heartbeat: dt.datetime = NOW) -> dict[str, Any]:
    """The NodeReport the agent would publish for a built-in machine."""
    doc = to_builtins(diagnose(machine_sources(load_builtin(machine), None), load_catalog(), node=node_name))
    status = {k: doc[k] for k in ("ready", "capabilities", "facts", "findings")}
    status.update(observedAt=format_time(heartbeat), heartbeatTime=format_time(heartbeat))
    return {
        "apiVersion": "nimdoctor.io/v1alpha1",
        "kind": "NodeReport",
        "metadata": {"name": node_name},
        "status": status,
    }


RESOURCES = {
    "NIMService": "apps.nvidia.com/v1alpha1/nimservices",
    "NIMCache": "apps.nvidia.com/v1alpha1/nimcaches",
    "Secret": "v1/secrets",
    "PersistentVolumeClaim": "v1/persistentvolumeclaims",
    "StorageClass": "storage.k8s.io/v1/storageclasses",
    "Node": "v1/nodes",
    "NodeReport": "nimdoctor.io/v1alpha1/nodereports",
    "Lease": "coordination.k8s.io/v1/leases",
    "Pod": "v1/pods",
}


def put(kube: Emulator, *objects: dict[str, Any]) -> None:
    """Store objects in the emulator as the API server would hold them."""

    def store() -> None:
        for obj in objects:
            meta = obj["metadata"]
            kube.handler.objects[RESOURCES[obj["kind"]], meta.get("namespace"), meta["name"]] = obj

    kube.call(store)


def serve_version(kube: Emulator, git_version: str) -> None:
    """Answer /version/ (the official client's path; kmock serves only /version) with this version."""
    major, minor = git_version.lstrip("v").split(".")[:2]
    body = {
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": "0" * 40,
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24",
        "compiler": "gc",
        "platform": "linux/amd64",
    }
    first = not hasattr(kube, "version_body")
    kube.version_body = body  # type: ignore[attr-defined]
    if first:  # one reaction that reads the current body: a later call changes the version
        kube.call(lambda: kube.handler["get /version/"] << (lambda: kube.version_body))  # type: ignore[attr-defined]


def forbid(kube: Emulator, path: str, message: str) -> None:
    """Answer GET `path` with 403 Forbidden, as RBAC would."""
    error = kmock.KubernetesError(403, "Forbidden", message)
    kube.call(lambda: kube.handler[f"get {path}"] << error)


def declare(kube: Emulator) -> None:
    """Declare the resources the collector lists, so an empty list is 200 [] as on a real server."""
    cluster_scoped = ("storageclasses", "nodes", "nodereports")

    def store() -> None:
        for resource in RESOURCES.values():
            kube.handler.resources[resource] = {"namespaced": not resource.endswith(cluster_scoped)}

    kube.call(store)


def kubeconfig(path: Path, url: str) -> Path:
    """A kubeconfig for the emulator, its context in the test namespace."""
    return write_kubeconfig(path, url, NS)
