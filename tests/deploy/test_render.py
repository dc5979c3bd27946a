"""`kubectl kustomize` renders every kustomization offline into a complete, self-consistent install."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.deploy.manifests import (
    DAEMONSET,
    INSTALL,
    MONITORING,
    NAMESPACE,
    TEMPLATES,
    Doc,
    entry_points,
    every_document,
    ident,
    kustomization_dirs,
    label,
    render,
    selects,
    workloads,
)

CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "RuntimeClass",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}


@pytest.mark.parametrize("path", kustomization_dirs(), ids=label)
def test_every_kustomization_renders_without_warnings(path: Path) -> None:
    assert render(path), f"{label(path)} renders nothing"


def test_the_install_holds_the_agent_the_audit_and_their_plumbing() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in render(INSTALL)}
    assert {
        ("Namespace", NAMESPACE),
        ("ServiceAccount", "nimdoctor-agent"),
        ("ClusterRole", "nimdoctor-agent"),
        ("ClusterRoleBinding", "nimdoctor-agent"),
        ("DaemonSet", "nimdoctor-agent"),
        ("Service", "nimdoctor-agent"),
        ("ServiceAccount", "nimdoctor-audit"),
        ("ClusterRole", "nimdoctor-audit"),
        ("ClusterRoleBinding", "nimdoctor-audit"),
        ("Deployment", "nimdoctor-audit"),
        ("Service", "nimdoctor-audit"),
        ("PodDisruptionBudget", "nimdoctor-audit"),
        ("Service", "nimdoctor-extender"),
    } <= kinds


def test_the_install_needs_no_prometheus_operator() -> None:
    groups = {doc["apiVersion"].split("/")[0] for doc in render(INSTALL)}
    assert "monitoring.coreos.com" not in groups


def test_monitoring_holds_the_scrapes_the_alerts_and_the_dashboard() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in render(MONITORING)}
    assert kinds == {
        ("ServiceMonitor", "nimdoctor-agent"),
        ("ServiceMonitor", "nimdoctor-extender"),
        ("ServiceMonitor", "nimdoctor-audit"),
        ("PrometheusRule", "nimdoctor"),
        ("ConfigMap", "nimdoctor-dashboard"),
    }


def referenced(kustomization_dir: Path) -> set[Path]:
    """Files and folders a kustomization reaches through `resources`, recursively (resolved paths)."""
    spec = yaml.safe_load((kustomization_dir / "kustomization.yaml").read_text())
    found: set[Path] = set()
    for entry in spec.get("resources", []):
        target = (kustomization_dir / entry).resolve()
        found.add(target)
        if (target / "kustomization.yaml").exists():
            found |= referenced(target)
    return found


def test_every_manifest_under_daemonset_is_installed_or_applied_apart() -> None:
    # Catches a manifest folder (a new scheduler/ or crd/) or a file that exists but that the install omits.
    reached = referenced(INSTALL)
    apart = (MONITORING, TEMPLATES, DAEMONSET / "overlays")
    stray = []
    for path in sorted([*DAEMONSET.rglob("*.yaml"), *DAEMONSET.rglob("*.yml")]):
        folder = path.parent
        if folder == DAEMONSET or any(folder.is_relative_to(a) for a in apart):
            continue
        if path.name == "kustomization.yaml":
            if folder.resolve() not in reached:
                stray.append(label(folder))
        elif not (folder / "kustomization.yaml").exists() and path.resolve() not in reached:
            stray.append(label(path))
    assert not stray, f"not part of `kubectl apply -k daemonset/`: {stray}"


@pytest.mark.parametrize("entry", entry_points(), ids=label)
def test_namespaced_objects_name_the_nimdoctor_namespace(entry: Path) -> None:
    # No kustomization-wide `namespace:` (it would move the scheduler's kube-system binding), so each object
    # must say where it goes, or `kubectl apply` puts it in the caller's current namespace.
    misplaced = [
        ident(doc)
        for doc in render(entry)
        if doc["kind"] not in CLUSTER_SCOPED
        and doc.get("metadata", {}).get("annotations", {}).get("config.kubernetes.io/local-config") != "true"
        and doc["metadata"].get("namespace") not in (NAMESPACE, "kube-system")
    ]
    assert not misplaced


def test_cluster_scoped_objects_have_no_namespace() -> None:
    assert not [
        ident(d) for _, d in every_document() if d["kind"] in CLUSTER_SCOPED and "namespace" in d["metadata"]
    ]


def test_objects_are_labelled_as_part_of_nimdoctor() -> None:
    unlabelled = [
        ident(doc)
        for _, doc in every_document()
        if doc.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/part-of") != "nimdoctor"
    ]
    assert not unlabelled


def test_workload_selectors_match_their_own_pod_templates() -> None:
    for workload in workloads(render(INSTALL)):
        selector = workload.doc["spec"]["selector"]["matchLabels"]
        assert selects(selector, workload.template["metadata"]["labels"]), workload.name


def test_workload_selectors_do_not_overlap() -> None:
    # Two controllers fighting over the same pods is a classic kustomize copy-paste accident.
    found = list(workloads(render(INSTALL)))
    for a in found:
        for b in found:
            if a is not b:
                assert not selects(a.doc["spec"]["selector"]["matchLabels"], b.template["metadata"]["labels"])


def ports_of(pod: Doc) -> set[int | str]:
    """Container port numbers and names a pod exposes."""
    found: set[int | str] = set()
    for container in pod.get("containers", []):
        for port in container.get("ports", []):
            found.add(port["containerPort"])
            if "name" in port:
                found.add(port["name"])
    return found


def scheduler_pending(service: Doc) -> bool:
    """The extender metrics Service selects the nim-scheduler pods of daemonset/scheduler/ (unmerged)."""
    return service["metadata"]["name"] == "nimdoctor-extender" and not (DAEMONSET / "scheduler").exists()


def test_services_select_pods_that_expose_their_target_port() -> None:
    docs = render(INSTALL)
    services = [d for d in docs if d["kind"] == "Service"]
    assert services
    for service in services:
        if scheduler_pending(service):
            continue
        pods = [
            w.pod
            for w in workloads(docs)
            if selects(service["spec"]["selector"], w.template["metadata"]["labels"])
        ]
        assert pods, f"{ident(service)} selects no rendered pod"
        for port in service["spec"]["ports"]:
            assert all(port["targetPort"] in ports_of(pod) for pod in pods), (ident(service), port)


def test_servicemonitors_scrape_a_service_port_and_add_the_node_label() -> None:
    services = [d for d in render(INSTALL) if d["kind"] == "Service"]
    monitors = [d for d in render(MONITORING) if d["kind"] == "ServiceMonitor"]
    for monitor in monitors:
        spec = monitor["spec"]
        matched = [
            s
            for s in services
            if s["metadata"]["namespace"] in spec["namespaceSelector"]["matchNames"]
            and selects(spec["selector"]["matchLabels"], s["metadata"]["labels"])
        ]
        assert len(matched) == 1, ident(monitor)
        port_names = {p["name"] for p in matched[0]["spec"]["ports"]}
        for endpoint in spec["endpoints"]:
            assert endpoint["port"] in port_names
            assert {
                "action": "replace",
                "sourceLabels": ["__meta_kubernetes_pod_node_name"],
                "targetLabel": "node",
            } in endpoint["relabelings"]


def test_metrics_services_keep_not_ready_pods_so_a_stuck_process_is_still_scraped() -> None:
    for service in (d for d in render(INSTALL) if d["kind"] == "Service"):
        assert service["spec"].get("publishNotReadyAddresses") is True, ident(service)
        assert service["spec"].get("clusterIP") == "None", ident(service)


@pytest.mark.parametrize("entry", entry_points(), ids=label)
def test_disruption_budgets_never_block_a_drain(entry: Path) -> None:
    # A budget over DaemonSet pods (no scale subresource) or one that allows no eviction stalls node drains.
    docs = render(entry)
    for budget in (d for d in docs if d["kind"] == "PodDisruptionBudget"):
        spec = budget["spec"]
        (workload,) = [
            w
            for w in workloads(docs)
            if selects(spec["selector"]["matchLabels"], w.template["metadata"]["labels"])
        ]
        assert workload.doc["kind"] != "DaemonSet", ident(budget)
        replicas = workload.doc["spec"].get("replicas", 1)
        if "minAvailable" in spec:
            assert isinstance(spec["minAvailable"], int), ident(budget)
            assert spec["minAvailable"] < replicas, ident(budget)
        else:
            assert spec["maxUnavailable"] not in (0, "0%"), ident(budget)
