"""Fleets for capacity tests: reports of built-in machines (some changed: GPUs in use, a low open-file limit),
diagnosed through the NVML fake as the agent would, and pod lists as `kubectl get pods -A -o json` prints."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
from click.testing import CliRunner

from nimdoctor.catalog import load_catalog
from nimdoctor.cli import cli
from nimdoctor.diagnose import diagnose
from nimdoctor.report import Report
from nimdoctor.simulation.machine import ContainerdSpec, HostSpec, Machine, load_builtin
from nimdoctor.simulation.simulate import machine_sources
from tests.cluster.reports import NOW

LLAMA_70B = "meta/llama-3.1-70b-instruct"
LLAMA_8B = "meta/llama-3.1-8b-instruct"
LLAMA_405B = "meta/llama-3.1-405b-instruct"


def machine(name: str, *, in_use: Iterable[int] = (), nofile: int | None = None) -> Machine:
    """A built-in machine; `in_use`: GPUs NVML shows memory used on; `nofile`: containerd's soft limit."""
    built = load_builtin(name)
    spec = built.spec
    busy = set(in_use)
    if busy:
        gpus = [
            msgspec.structs.replace(
                gpu, memory=msgspec.structs.replace(gpu.memory, used_mib=gpu.memory.total_mib // 2)
            )
            if gpu.index in busy and gpu.memory is not None
            else gpu
            for gpu in spec.gpus
        ]
        spec = msgspec.structs.replace(spec, gpus=gpus)
    if nofile is not None:
        host = HostSpec(containerd=ContainerdSpec(nofile_soft=nofile, nofile_hard=nofile))
        spec = msgspec.structs.replace(spec, host=host)
    return msgspec.structs.replace(built, spec=spec)


def report(node: str, described: Machine) -> Report:
    """The node's diagnosis, as its agent would make it."""
    return diagnose(machine_sources(described), load_catalog(), node, now=NOW)


def write_reports(directory: Path, nodes: dict[str, Machine]) -> Path:
    """One `<node>.json` Report document per node; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for node, described in nodes.items():
        (directory / f"{node}.json").write_bytes(msgspec.json.encode(report(node, described)))
    return directory


def pod(
    name: str,
    node: str | None,
    gpus: int | str = 1,
    *,
    phase: str = "Running",
    resource: str = "nvidia.com/gpu",
    namespace: str = "nim",
) -> dict[str, Any]:
    """A pod bound to `node` (None: not scheduled yet) holding `gpus` devices of `resource` as a limit."""
    spec: dict[str, Any] = {
        "containers": [{"name": "nim", "image": "nvcr.io/nim/x:1", "resources": {"limits": {resource: gpus}}}]
    }
    if node is not None:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
        "status": {"phase": phase},
    }


def write_pods(path: Path, pods: list[dict[str, Any]]) -> Path:
    """A `kubectl get pods -A -o json` document."""
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": pods, "metadata": {}}))
    return path


def capacity(*args: str | Path) -> tuple[int, dict[str, Any]]:
    """`nimdoctor capacity ARGS -o json` over simulated machines' reports (so `--trust-simulated`): the exit
    code and the document."""
    result = CliRunner().invoke(cli, ["capacity", *map(str, args), "--trust-simulated", "-o", "json"])
    assert result.exit_code in (0, 1, 3), result.output
    return result.exit_code, json.loads(result.stdout)


def by_node(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The document's node entries by name."""
    return {entry["node"]: entry for entry in document["nodes"]}
