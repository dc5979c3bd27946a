"""Vendor the NIM Operator's CRD schemas into nimdoctor/workloads/schema/data/.

    python tools/vendor_crds.py GIT_DIR REF VERSION

GIT_DIR is a clone of github.com/NVIDIA/k8s-nim-operator (a bare one will do), REF the tag or commit to read,
VERSION the first operator version the schemas stand for (`3.1.2`). The output keeps each kind's
`openAPIV3Schema` with its validation keywords and CEL rules; descriptions are dropped (they are most of the
bytes and validation never reads them). The operator is Apache-2.0 licensed; the file records the source.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

TARGET = Path(__file__).resolve().parent.parent / "nimdoctor" / "workloads" / "schema" / "data"
SOURCE = "https://github.com/NVIDIA/k8s-nim-operator"
KINDS = {
    "NIMService": "apps.nvidia.com_nimservices.yaml",
    "NIMCache": "apps.nvidia.com_nimcaches.yaml",
    "NIMPipeline": "apps.nvidia.com_nimpipelines.yaml",
    "NIMBuild": "apps.nvidia.com_nimbuilds.yaml",
}
CRD_DIR = "config/crd/bases"


def strip(schema: Any) -> Any:
    """A schema node without its descriptions (property names are kept, even one called `description`)."""
    if isinstance(schema, list):
        return [strip(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "description":
            continue
        if key in ("properties", "definitions", "patternProperties"):
            out[key] = {name: strip(sub) for name, sub in value.items()}
        elif key in ("default", "enum", "example", "x-kubernetes-validations"):
            out[key] = value
        else:
            out[key] = strip(value)
    return out


def git(git_dir: str, *args: str) -> str:
    """The output of a git command on the clone."""
    return subprocess.run(
        ["git", "--git-dir", git_dir, *args], check=True, capture_output=True, text=True
    ).stdout


def main(git_dir: str, ref: str, version: str) -> None:
    """Write `<version>.json.gz`."""
    commit = git(git_dir, "rev-parse", f"{ref}^{{commit}}").strip()
    kinds: dict[str, Any] = {}
    files: list[str] = []
    for kind, name in KINDS.items():
        path = f"{CRD_DIR}/{name}"
        try:
            text = git(git_dir, "show", f"{commit}:{path}")
        except subprocess.CalledProcessError:
            continue  # NIMBuild arrived in 3.0.0
        crd = yaml.safe_load(text)
        served = [v for v in crd["spec"]["versions"] if v.get("storage")]
        kinds[kind] = strip(served[0]["schema"]["openAPIV3Schema"])
        files.append(path)
    document = {
        "operatorVersion": version,
        "source": SOURCE,
        "ref": ref,
        "commit": commit,
        "licence": "Apache-2.0",
        "files": files,
        "note": "openAPIV3Schema of each CRD's storage version, descriptions removed",
        "kinds": kinds,
    }
    TARGET.mkdir(parents=True, exist_ok=True)
    data = json.dumps(document, separators=(",", ":"), sort_keys=False).encode()
    (TARGET / f"{version}.json.gz").write_bytes(gzip.compress(data, mtime=0))


if __name__ == "__main__":
    main(*sys.argv[1:4])
