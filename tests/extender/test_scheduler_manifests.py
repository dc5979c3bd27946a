"""The shipped secondary scheduler (`daemonset/scheduler/`): it renders, validates strictly, spells every
KubeSchedulerConfiguration field as kube-scheduler's strict decoder wants, and agrees with the extender's own
defaults (address, verbs, metrics port, image)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.routing import Route

from nimdoctor import __version__
from nimdoctor.catalog import Catalog
from nimdoctor.cli.extender_cmd import DEFAULT_LISTEN, DEFAULT_METRICS_LISTEN, DEFAULT_STALE_AFTER
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.run import Extender
from tests.placement.pods import dra_pod, nim_pod

ROOT = Path(__file__).resolve().parents[2]
SCHEDULER = ROOT / "daemonset" / "scheduler"
FIELDS = yaml.safe_load((ROOT / "tests" / "fixtures" / "kubescheduler-config-v1-fields.yaml").read_text())
NAME_LABELS = {"app.kubernetes.io/name": "nimdoctor", "app.kubernetes.io/component": "scheduler"}
DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$")

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl renders the kustomization")


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    out = subprocess.run(["kubectl", "kustomize", str(SCHEDULER)], capture_output=True, text=True, check=True)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, [d["metadata"]["name"] for d in found])
    return found[0]


@pytest.fixture(scope="module")
def config(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    configmap = one(rendered, "ConfigMap")
    parsed: dict[str, Any] = yaml.safe_load(configmap["data"]["config.yaml"])
    return parsed


@pytest.fixture(scope="module")
def pod(rendered: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(rendered, "Deployment")["spec"]["template"]["spec"]
    return spec


def container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in pod["containers"] if c["name"] == name)


def flags(args: list[str]) -> dict[str, str]:
    return dict(a.removeprefix("--").split("=", 1) for a in args if a.startswith("--") and "=" in a)


def check_fields(value: Any, kind: str, path: str) -> None:
    """`value` has only the fields Go type `kind` declares, each of the right JSON kind."""
    if kind.startswith("[]"):
        assert isinstance(value, list), path
        for index, item in enumerate(value):
            check_fields(item, kind[2:], f"{path}[{index}]")
    elif kind in FIELDS:
        assert isinstance(value, dict), path
        unknown = set(value) - set(FIELDS[kind])
        assert not unknown, f"{path}: kube-scheduler rejects unknown fields {sorted(unknown)}"
        for key, item in value.items():
            check_fields(item, FIELDS[kind][key], f"{path}.{key}")
    elif kind == "bool":
        assert isinstance(value, bool), path
    elif kind == "int":
        assert type(value) is int, path
    elif kind == "duration":
        assert DURATION.match(str(value)), path
    elif kind == "string":
        assert isinstance(value, str), path


def test_it_renders_the_scheduler_pieces(rendered: list[dict[str, Any]]) -> None:
    kinds = sorted(d["kind"] for d in rendered)
    assert kinds == sorted(
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ClusterRoleBinding",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "RoleBinding",
            "ConfigMap",
            "Deployment",
            "PodDisruptionBudget",
            "Service",
        ]
    )


def test_every_built_in_object_validates_strictly(rendered: list[dict[str, Any]]) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for doc in rendered:
        kubernetes_validate.validate(doc, "1.32", strict=True)


def test_the_configuration_uses_only_fields_kube_scheduler_knows(config: dict[str, Any]) -> None:
    assert config["apiVersion"] == "kubescheduler.config.k8s.io/v1"
    assert config["kind"] == "KubeSchedulerConfiguration"
    check_fields(config, "KubeSchedulerConfiguration", "$")


def test_the_field_check_catches_the_spellings_seen_in_the_wild(config: dict[str, Any]) -> None:
    for typo in ("enableHttps", "ignoreable", "nodeCacheCapabale", "HTTPTimeout"):
        broken = {**config, "extenders": [{**config["extenders"][0], typo: True}]}
        with pytest.raises(AssertionError, match=typo):
            check_fields(broken, "KubeSchedulerConfiguration", "$")


def test_the_nim_profile_scores_every_node(config: dict[str, Any]) -> None:
    assert config["profiles"] == [{"schedulerName": "nim-scheduler", "percentageOfNodesToScore": 100}]


def test_the_extenders_entry_agrees_with_the_extender(config: dict[str, Any], catalog: Catalog) -> None:
    (extender,) = config["extenders"]
    assert extender["urlPrefix"] == f"http://{DEFAULT_LISTEN}"
    app = Extender.assemble(ReportCache(None), catalog).webhook.app()
    routes = {(r.path, m) for r in app.routes if isinstance(r, Route) for m in r.methods or ()}
    assert (f"/{extender['filterVerb']}", "POST") in routes
    assert (f"/{extender['prioritizeVerb']}", "POST") in routes
    assert extender["nodeCacheCapable"] is True
    assert "managedResources" not in extender  # every pod of nim-scheduler is sent (DRA pods included)
    assert extender["weight"] >= 1
    assert extender["ignorable"] is False
    assert extender["enableHTTPS"] is False
    assert extender["httpTimeout"] == "2s"


def is_interested(extender: dict[str, Any], pod: dict[str, Any]) -> bool:
    """kube-scheduler's `HTTPExtender.IsInterested` (pkg/scheduler/extender.go): every pod when the extender
    lists no managedResources, else a pod with a container or init container that names one of them in its
    requests or limits."""
    managed = {r["name"] for r in extender.get("managedResources") or []}
    if not managed:
        return True
    containers = [*pod["spec"].get("containers", []), *pod["spec"].get("initContainers", [])]
    for container in containers:
        resources = container.get("resources") or {}
        named = {*(resources.get("requests") or {}), *(resources.get("limits") or {})}
        if named & managed:
            return True
    return False


def test_the_rendered_configuration_sends_dra_nim_pods_to_the_extender(config: dict[str, Any]) -> None:
    (extender,) = config["extenders"]
    dra = dra_pod("meta/llama-3.1-70b-instruct")
    assert is_interested(extender, dra)
    assert is_interested(extender, nim_pod("meta/llama-3.1-70b-instruct", gpus=4))
    # What the configuration shipped before: managedResources nvidia.com/gpu never sent a DRA pod.
    assert not is_interested({"managedResources": [{"name": "nvidia.com/gpu"}]}, dra)


def test_the_sidecar_listens_where_the_scheduler_calls_and_is_probed_on_the_metrics_port(
    config: dict[str, Any], pod: dict[str, Any]
) -> None:
    sidecar = container(pod, "extender")
    assert sidecar["image"] == f"ghcr.io/nimdoctor/nimdoctor:{__version__}"
    assert sidecar["args"][0] == "extender"
    options = flags(sidecar["args"])
    assert f"http://{options['listen']}" == config["extenders"][0]["urlPrefix"]
    assert options["metrics-listen"] == DEFAULT_METRICS_LISTEN
    assert float(options["stale-after"]) == DEFAULT_STALE_AFTER
    port = int(DEFAULT_METRICS_LISTEN.rpartition(":")[2])
    assert sidecar["ports"] == [{"name": "metrics", "containerPort": port}]
    assert sidecar["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
    assert sidecar["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}


def test_kube_scheduler_reads_the_generated_configmap(
    rendered: list[dict[str, Any]], pod: dict[str, Any]
) -> None:
    scheduler = container(pod, "kube-scheduler")
    assert scheduler["image"].startswith("registry.k8s.io/kube-scheduler:v1.")
    config_path = Path(flags(scheduler["command"])["config"])
    mount = next(m for m in scheduler["volumeMounts"] if m["mountPath"] == str(config_path.parent))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    configmap = one(rendered, "ConfigMap")
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    assert config_path.name in configmap["data"]


def test_two_replicas_elect_a_leader_on_their_own_lease(
    rendered: list[dict[str, Any]], config: dict[str, Any]
) -> None:
    deployment = one(rendered, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    election = config["leaderElection"]
    assert election["leaderElect"] is True
    assert election["resourceName"] == "nim-scheduler"
    assert election["resourceNamespace"] == deployment["metadata"]["namespace"]
    role = one(rendered, "Role", "nim-scheduler-leader-election")
    assert role["metadata"]["namespace"] == election["resourceNamespace"]
    named = [r for r in role["rules"] if r.get("resourceNames")]
    assert named == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["nim-scheduler"],
            "verbs": ["get", "update"],  # client-go's LeaseLock: Get, Create, Update
        }
    ]


def test_the_service_account_has_the_scheduler_roles_and_reads_nodereports_and_claims(
    rendered: list[dict[str, Any]], pod: dict[str, Any]
) -> None:
    account = one(rendered, "ServiceAccount")
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    subject = {
        "kind": "ServiceAccount",
        "name": account["metadata"]["name"],
        "namespace": account["metadata"]["namespace"],
    }
    bound = {
        (b["kind"], b["metadata"].get("namespace"), b["roleRef"]["kind"], b["roleRef"]["name"])
        for b in rendered
        if b["kind"] in ("ClusterRoleBinding", "RoleBinding") and subject in b["subjects"]
    }
    assert bound == {
        ("ClusterRoleBinding", None, "ClusterRole", "system:kube-scheduler"),
        ("ClusterRoleBinding", None, "ClusterRole", "system:volume-scheduler"),
        ("RoleBinding", "kube-system", "Role", "extension-apiserver-authentication-reader"),
        ("RoleBinding", "nimdoctor", "Role", "nim-scheduler-leader-election"),
        ("ClusterRoleBinding", None, "ClusterRole", "nimdoctor-extender"),
    }
    reader = one(rendered, "ClusterRole", "nimdoctor-extender")
    assert reader["rules"] == [
        {"apiGroups": ["nimdoctor.io"], "resources": ["nodereports"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": ["resource.k8s.io"],
            "resources": ["resourceclaimtemplates", "resourceclaims"],
            "verbs": ["get", "list", "watch"],
        },
    ]


def test_the_pod_labels_match_the_selectors_of_the_pdb_and_service(rendered: list[dict[str, Any]]) -> None:
    deployment = one(rendered, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == NAME_LABELS
    assert NAME_LABELS.items() <= labels.items()
    pdb = one(rendered, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == NAME_LABELS
    assert pdb["spec"]["minAvailable"] == 1
    service = one(rendered, "Service")
    assert service["spec"]["selector"] == NAME_LABELS
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9403, "targetPort": 9403, "protocol": "TCP"}
    ]
