"""Which CRD schemas judge: the vendored ones for `--operator-version` (each with its source, commit and
licence), or in `run --cluster` the cluster's installed CRDs."""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from nimdoctor.cli import cli
from nimdoctor.workloads.model import NEWEST_OPERATOR
from nimdoctor.workloads.schema import crds
from tests.kube import Emulator
from tests.workloads.cluster import NS, kubeconfig, nimservice, put
from tests.workloads.schema.objects import brief, lint_objects, manifest

INGRESS = {"ingressClass": "nginx"}
ROUTER: dict[str, Any] = {"expose": {"router": {"hostDomainName": "example.com", "ingress": INGRESS}}}
CRDS = "apiextensions.k8s.io/v1/customresourcedefinitions"


def test_every_vendored_file_names_its_source_commit_and_licence() -> None:
    data = resources.files("nimdoctor.workloads.schema") / "data"
    files = sorted(p.name for p in data.iterdir() if p.name.endswith(".json.gz"))
    assert len(files) == len(crds.vendored_versions()) >= 2
    for name in files:
        header = json.loads(gzip.decompress(data.joinpath(name).read_bytes()))
        assert header["source"] == "https://github.com/NVIDIA/k8s-nim-operator"
        assert header["licence"] == "Apache-2.0"
        assert len(header["commit"]) == 40
        assert {"NIMService", "NIMCache", "NIMPipeline"} <= set(header["kinds"])


def test_a_version_reads_the_newest_vendored_schemas_not_newer_than_it() -> None:
    assert crds.pick(NEWEST_OPERATOR) == (3, 1, 3)  # main after v3.1.2 stands for the untagged 3.1.3/3.1.4
    assert crds.pick((3, 1, 1)) == (3, 1, 1)
    assert crds.pick((3, 0, 9)) == (3, 0, 2)
    assert crds.pick((0, 9, 0)) == (1, 0, 0)
    assert "NIMBuild" in crds.vendored((3, 1, 2)).kinds


def test_the_router_is_unknown_to_the_302_crd_and_known_from_310(tmp_path: Path) -> None:
    service = manifest("NIMService", ROUTER)
    assert lint_objects(tmp_path, service) == []
    old = lint_objects(tmp_path, service, args=("--operator-version", "3.0.2"))
    assert ("NIM-OP-002", "fail", "spec.expose.router") in brief(old)


def test_replicas_with_autoscaling_is_a_cel_rule_from_302_on(tmp_path: Path) -> None:
    # The rule arrived with PR #681 (2025-10-10), first tagged in v3.0.2.
    scaled = manifest("NIMService", {"replicas": 2, "scale": {"enabled": True, "hpa": {"maxReplicas": 2}}})
    # NIM-WL-005 reports the rule (its fix says what to delete); NIM-OP-003 leaves it there.
    both = ("--only", "NIM-OP-003,NIM-WL-005")
    assert brief(lint_objects(tmp_path, scaled, args=both)) == {("NIM-WL-005", "fail", "spec.replicas")}
    assert brief(lint_objects(tmp_path, scaled, args=(*both, "--operator-version", "3.0.2"))) == {
        ("NIM-WL-005", "fail", "spec.replicas")
    }
    assert brief(lint_objects(tmp_path, scaled, args=(*both, "--operator-version", "3.0.1"))) == {
        ("NIM-WL-005", "warn", "spec.replicas")
    }


def crd(kind: str, plural: str, schema: Any) -> dict[str, Any]:
    """A CustomResourceDefinition as the API server returns it."""
    version = {"name": "v1alpha1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.apps.nvidia.com"},
        "spec": {
            "group": "apps.nvidia.com",
            "names": {"kind": kind, "plural": plural},
            "versions": [version],
        },
    }


def install_crds(kube: Emulator, version: tuple[int, int, int]) -> None:
    """Store the NIM CRDs of an operator `version` in the emulator (built from the vendored schemas)."""
    kinds = crds.vendored(version).kinds
    plurals = {"NIMService": "nimservices", "NIMCache": "nimcaches", "NIMPipeline": "nimpipelines"}

    def store() -> None:
        kube.handler.resources[CRDS] = {"namespaced": False}
        for kind, plural in plurals.items():
            kube.handler.objects[CRDS, None, f"{plural}.apps.nvidia.com"] = crd(kind, plural, kinds[kind])

    kube.call(store)


def run_cluster(config: Path, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["run", "--cluster", "--kubeconfig", str(config), "-o", "json", *args])
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_run_cluster_judges_with_the_installed_crds(live: Emulator, tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "kubeconfig", live.url)
    put(live, nimservice("routed", expose=ROUTER["expose"]))
    vendored = run_cluster(config)
    assert any("judged with the vendored CRD schemas" in note for note in vendored["notes"])
    assert not [f for f in vendored["findings"] if f["id"] == "NIM-OP-002" and f["status"] == "fail"]

    install_crds(live, (3, 0, 2))  # an older operator's CRDs: no expose.router
    installed = run_cluster(config)
    assert not any("vendored" in note for note in installed["notes"])
    [unknown] = [f for f in installed["findings"] if f["id"] == "NIM-OP-002" and f["status"] == "fail"]
    assert (unknown["object"]["name"], unknown["field"]) == ("routed", "spec.expose.router")
    assert unknown["evidence"]["source"] == "the cluster's installed CRDs"
    assert unknown["object"]["namespace"] == NS


def test_crds_of_other_groups_are_ignored() -> None:
    other = crd("Widget", "widgets", {"type": "object"})
    other["spec"]["group"] = "example.com"
    assert crds.from_crds([other]) is None
