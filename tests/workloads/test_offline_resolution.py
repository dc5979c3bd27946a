"""`nimdoctor lint` resolves the NIMCaches, Secrets, PVCs and DRA claims its own input defines; only what the
input lacks is left to a live cluster, with a near-miss hint; objects defined twice are a finding."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from nimdoctor.cli import cli

SERVICE = """\
apiVersion: apps.nvidia.com/v1alpha1
kind: NIMService
metadata: {{name: llm, namespace: team}}
spec:
  image: {{repository: nvcr.io/nim/meta/llama-3.2-1b-instruct, tag: "1.12.0", pullSecrets: [{pull}]}}
  authSecret: {auth}
  storage:
    nimCache: {{name: {cache}}}
  resources: {{limits: {{nvidia.com/gpu: 1}}}}
"""
CACHE = """\
apiVersion: apps.nvidia.com/v1alpha1
kind: NIMCache
metadata: {{name: {name}, namespace: team}}
spec:
  source:
    ngc: {{modelPuller: "nvcr.io/nim/meta/llama-3.2-1b-instruct:1.12.0", pullSecret: ngc-secret,
          authSecret: ngc-api-secret}}
  storage:
    pvc: {{create: true, size: 50Gi, volumeAccessMode: ReadWriteMany}}
"""
REGISTRY = """\
apiVersion: v1
kind: Secret
metadata: {name: ngc-secret, namespace: team}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{"auths": {"nvcr.io": {"username": "$oauthtoken", "password": "planted-value-1"}}}'
"""


def api_key(name: str, *keys: str) -> str:
    data = ", ".join(f"{k}: planted-value-2" for k in keys)
    return (
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: team}}\nstringData: {{{data}}}\n"
    )


def lint(tmp_path: Path, *files: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Lint the files together: findings by (kind, name, check)."""
    paths = []
    for index, text in enumerate(files):
        path = tmp_path / f"{index}.yaml"
        path.write_text(text)
        paths.append(str(path))
    result = CliRunner().invoke(cli, ["lint", *paths, "-o", "json"], catch_exceptions=False)
    assert "planted-value" not in result.stdout  # secret values never leave the reader
    report = json.loads(result.stdout)
    return {(f["object"]["kind"], f["object"]["name"], f["id"]): f for f in report["findings"]}


def service(cache: str = "llama", auth: str = "ngc-api-secret", pull: str = "ngc-secret") -> str:
    return SERVICE.format(cache=cache, auth=auth, pull=pull)


def test_names_in_the_same_input_resolve_offline(tmp_path: Path) -> None:
    got = lint(
        tmp_path,
        service() + "---\n" + CACHE.format(name="llama"),
        REGISTRY + "---\n" + api_key("ngc-api-secret", "NGC_API_KEY"),
    )
    assert got["NIMService", "llm", "NIM-WL-002"]["status"] == "pass"
    assert got["NIMService", "llm", "NIM-WL-007"]["status"] == "pass"
    assert got["NIMService", "llm", "NIM-WL-008"]["status"] == "pass"
    assert got["NIMService", "llm", "NIM-WL-009"]["status"] == "pass"
    assert got["NIMService", "llm", "NIM-WL-019"]["status"] == "pass"


def test_a_secret_in_the_input_without_the_key_fails_offline(tmp_path: Path) -> None:
    got = lint(
        tmp_path, service() + "---\n" + CACHE.format(name="llama"), api_key("ngc-api-secret", "API_KEY")
    )
    finding = got["NIMService", "llm", "NIM-WL-007"]
    assert finding["status"] == "fail"
    assert finding["message"].startswith("secret ngc-api-secret has no key NGC_API_KEY (keys: API_KEY)")


def test_names_the_input_lacks_are_live_only_with_a_near_miss(tmp_path: Path) -> None:
    got = lint(
        tmp_path,
        service(cache="llama-cache", auth="ngc-api-key", pull="ngc-secrets"),
        CACHE.format(name="llama") + "---\n" + REGISTRY + "---\n" + api_key("ngc-api-secret", "NGC_API_KEY"),
    )
    cache = got["NIMService", "llm", "NIM-WL-002"]
    assert cache["status"] == "skip"
    assert cache["message"].startswith(
        "NIMCache llama-cache is not in this lint input: checked against a live"
    )
    assert "did you mean NIMCache llama (" in cache["message"]
    assert "did you mean Secret ngc-api-secret (" in got["NIMService", "llm", "NIM-WL-007"]["message"]
    assert "did you mean Secret ngc-secret (" in got["NIMService", "llm", "NIM-WL-008"]["message"]


def test_no_hint_without_a_similar_name(tmp_path: Path) -> None:
    got = lint(tmp_path, service(cache="mistral-7b"), CACHE.format(name="llama"))
    message = got["NIMService", "llm", "NIM-WL-002"]["message"]
    assert (
        message
        == "NIMCache mistral-7b is not in this lint input: checked against a live cluster only "
        + ("(nimdoctor run --cluster)")
    )


def test_two_files_with_the_same_object_are_a_finding_not_a_merge(tmp_path: Path) -> None:
    got = lint(tmp_path, CACHE.format(name="llama"), service() + "---\n" + CACHE.format(name="llama"))
    duplicate = got["NIMCache", "llama", "NIM-WL-019"]
    assert duplicate["status"] == "fail"
    assert (
        f"2 NIMCaches named llama in namespace team: {tmp_path}/0.yaml:3, {tmp_path}/1.yaml:"
        in (duplicate["message"])
    )
    assert got["NIMService", "llm", "NIM-WL-019"]["status"] == "pass"


def test_same_name_of_another_kind_is_no_duplicate(tmp_path: Path) -> None:
    got = lint(tmp_path, service(cache="llm") + "---\n" + CACHE.format(name="llm"))
    assert got["NIMService", "llm", "NIM-WL-019"]["status"] == "pass"
    assert got["NIMCache", "llm", "NIM-WL-019"]["status"] == "pass"


def test_a_pvc_in_the_input_is_resolved(tmp_path: Path) -> None:
    pvc = textwrap.dedent(
        """\
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: models, namespace: team}
        spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 100Gi}}}
        """
    )
    scaled = service().replace("nimCache: {name: llama}", "pvc: {name: models}") + "  replicas: 2\n"
    got = lint(tmp_path, scaled, pvc)
    assert got["NIMService", "llm", "NIM-WL-014"]["status"] == "pass"
    assert got["NIMService", "llm", "NIM-WL-003"]["status"] == "fail"  # ReadWriteOnce for two pods
    assert got["NIMService", "llm", "NIM-WL-004"]["message"].startswith("PVC models (100 GiB)")
