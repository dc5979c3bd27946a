"""Valid NIMService and NIMCache manifests that a test breaks one field at a time, and linting them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from nimdoctor.cli import cli

OPERATOR_CHECKS = "NIM-OP-001,NIM-OP-002,NIM-OP-003,NIM-OP-004,NIM-OP-005"

SERVICE: dict[str, Any] = {
    "apiVersion": "apps.nvidia.com/v1alpha1",
    "kind": "NIMService",
    "metadata": {"name": "llm", "namespace": "nim"},
    "spec": {
        "image": {
            "repository": "nvcr.io/nim/meta/llama-3.2-1b-instruct",
            "tag": "1.12.0",
            "pullPolicy": "IfNotPresent",
            "pullSecrets": ["ngc-secret"],
        },
        "authSecret": "ngc-api-secret",
        "storage": {"nimCache": {"name": "llm-cache", "profile": ""}},
        "replicas": 1,
        "resources": {"limits": {"nvidia.com/gpu": 1}},
        "expose": {"service": {"type": "ClusterIP", "port": 8000}},
    },
}

CACHE: dict[str, Any] = {
    "apiVersion": "apps.nvidia.com/v1alpha1",
    "kind": "NIMCache",
    "metadata": {"name": "llm-cache", "namespace": "nim"},
    "spec": {
        "source": {
            "ngc": {
                "modelPuller": "nvcr.io/nim/meta/llama-3.2-1b-instruct:1.12.0",
                "pullSecret": "ngc-secret",
                "authSecret": "ngc-api-secret",
                "model": {"engine": "tensorrt_llm", "tensorParallelism": "1"},
            }
        },
        "storage": {"pvc": {"create": True, "size": "50Gi", "volumeAccessMode": "ReadWriteOnce"}},
    },
}


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`base` with `patch` merged in: mappings merge, other values replace, None deletes the key."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def manifest(kind: str, spec_patch: dict[str, Any]) -> dict[str, Any]:
    """The valid object of `kind` ("NIMService" or "NIMCache") with its spec patched."""
    base = SERVICE if kind == "NIMService" else CACHE
    return {**base, "spec": merge(base["spec"], spec_patch)}


def lint_text(tmp_path: Path, text: str, *args: str) -> list[dict[str, Any]]:
    """The NIM-OP findings that are not `pass` when `nimdoctor lint` reads `text` from a file."""
    path = tmp_path / "objects.yaml"
    path.write_text(text)
    result = CliRunner().invoke(
        cli, ["lint", str(path), "--only", OPERATOR_CHECKS, "-o", "json", *args], catch_exceptions=False
    )
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    return [f for f in report["findings"] if f["status"] != "pass"]


def lint_objects(
    tmp_path: Path, *objects: dict[str, Any], args: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """`lint_text` on objects dumped as a YAML stream."""
    return lint_text(tmp_path, yaml.safe_dump_all(objects, sort_keys=False), *args)


def brief(findings: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(check, status, field) of each finding."""
    return {(f["id"], f["status"], f["field"]) for f in findings}
