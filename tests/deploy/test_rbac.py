"""Least privilege: every rendered Role, ClusterRole and binding, whoever wrote it, grants no more than
the processes running under it need; no wildcards; no Secrets outside the audit's per-namespace template."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nimdoctor.cluster.nodereport import GROUP, PLURAL
from nimdoctor.workloads.model import GROUP as NIM_CRD_GROUP
from nimdoctor.workloads.model import PLURALS
from tests.deploy.manifests import (
    INSTALL,
    NAMESPACE,
    TEMPLATES,
    Doc,
    every_document,
    ident,
    label,
    render,
    templates,
    workloads,
)

Grant = tuple[str, str]  # (API group, resource)
RBAC_GROUP = "rbac.authorization.k8s.io"
NIM_GROUP = "apps.nvidia.com"

# What each process needs (issue 12, point 4). Verbs per (group, resource).
ALLOWED: dict[str, dict[Grant, set[str]]] = {
    "agent": {
        ("", "nodes"): {"get", "patch"},
        ("", "nodes/status"): {"patch"},
        (GROUP, PLURAL): {"create", "get", "patch"},
        (GROUP, f"{PLURAL}/status"): {"get", "patch"},
    },
    "extender": {
        (GROUP, PLURAL): {"get", "list", "watch"},
        # DRA NIM pods: the claims that give them GPUs, read-only.
        ("resource.k8s.io", "resourceclaimtemplates"): {"get", "list", "watch"},
        ("resource.k8s.io", "resourceclaims"): {"get", "list", "watch"},
    },
    "scheduler": {
        # Its own leader-election Lease (client-go's lease lock gets, creates and updates it).
        ("coordination.k8s.io", "leases"): {"create", "get", "update"},
        # Only the extension-apiserver-authentication ConfigMap in kube-system (checked below).
        ("", "configmaps"): {"get", "list", "watch"},
    },
    "audit": {
        (NIM_GROUP, "nimservices"): {"get", "list", "watch"},
        (NIM_GROUP, "nimcaches"): {"get", "list", "watch"},
        (NIM_GROUP, "nimpipelines"): {"get", "list", "watch"},
        ("", "persistentvolumeclaims"): {"get", "list", "watch"},
        ("storage.k8s.io", "storageclasses"): {"get", "list", "watch"},
        ("", "nodes"): {"get", "list", "watch"},
        (GROUP, PLURAL): {"get", "list", "watch"},
        # NIM-WL-020: the GPUs pods hold, when a NIMService autoscales.
        ("", "pods"): {"list"},
        # NIM-WL-018: whether nim-scheduler runs, from its leader-election Lease (by name; checked below).
        ("coordination.k8s.io", "leases"): {"get"},
        # NIM-OP-*: the installed NIM CRDs' schemas, by name (checked below).
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"get"},
    },
}
# What the per-namespace templates grant the audit, each in the one namespace it is applied to (issue 22).
PER_NAMESPACE: dict[Grant, set[str]] = {("", "secrets"): {"get"}, ("", "events"): {"create", "patch"}}
# Roles Kubernetes itself ships that a process may be bound to.
BUILT_IN_ROLES: dict[str, set[tuple[str, str]]] = {
    "scheduler": {
        ("ClusterRole", "system:kube-scheduler"),
        ("ClusterRole", "system:volume-scheduler"),
        ("Role", "extension-apiserver-authentication-reader"),
    },
}
AUTH_CONFIGMAP = "extension-apiserver-authentication"
# The CRDs the audit reads to judge with what its cluster enforces: exactly those `collect` asks for.
NIM_CRDS = sorted(f"{plural}.{NIM_CRD_GROUP}" for plural in PLURALS.values())
SCHEDULER_LEASE = "nim-scheduler"


def roles(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in ("Role", "ClusterRole")]


def bindings(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]


# Each source (an entry point's render, or the templates) is checked on its own: a binding resolves within it.
SOURCES: dict[str, list[Doc]] = {}
for _source, _doc in every_document():
    SOURCES.setdefault(_source, []).append(_doc)
INSTALLED = render(INSTALL)
ROLES = [(source, doc) for source, docs in SOURCES.items() for doc in roles(docs)]
BINDINGS = [(source, doc) for source, docs in SOURCES.items() for doc in bindings(docs)]


def grants(rule: Doc) -> Iterator[Grant]:
    for group in rule.get("apiGroups", []):
        for resource in rule.get("resources", []):
            yield group, resource


def identities() -> dict[str, set[str]]:
    """ServiceAccount name -> what the pods running as it do (agent, extender, audit, scheduler)."""
    found: dict[str, set[str]] = {}
    for workload in workloads(INSTALLED):
        found.setdefault(workload.pod.get("serviceAccountName", "default"), set()).update(workload.roles())
    return found


def role_of(binding: Doc, docs: list[Doc]) -> Doc | None:
    ref = binding["roleRef"]
    for role in roles(docs):
        same_scope = ref["kind"] == "ClusterRole" or role["metadata"].get("namespace") == binding[
            "metadata"
        ].get("namespace")
        if role["kind"] == ref["kind"] and role["metadata"]["name"] == ref["name"] and same_scope:
            return role
    return None


def test_every_nimdoctor_pod_runs_as_its_own_service_account() -> None:
    for workload in workloads(INSTALLED):
        assert workload.pod.get("serviceAccountName") not in (None, "default"), workload.name
    assert {"agent", "audit"} <= set().union(*identities().values())


@pytest.mark.parametrize(("source", "role"), ROLES, ids=[f"{s}:{ident(r)}" for s, r in ROLES])
def test_no_wildcards_aggregation_or_non_resource_urls(source: str, role: Doc) -> None:
    assert "aggregationRule" not in role
    for rule in role.get("rules", []):
        assert "nonResourceURLs" not in rule, rule
        for key in ("apiGroups", "resources", "verbs", "resourceNames"):
            assert not any("*" in value for value in rule.get(key, [])), rule


@pytest.mark.parametrize(("source", "binding"), BINDINGS, ids=[f"{s}:{ident(b)}" for s, b in BINDINGS])
def test_bindings_name_only_nimdoctor_service_accounts_that_pods_run_as(source: str, binding: Doc) -> None:
    accounts = {d["metadata"]["name"] for d in INSTALLED if d["kind"] == "ServiceAccount"}
    assert binding["roleRef"]["apiGroup"] == RBAC_GROUP
    for subject in binding["subjects"]:
        assert subject["kind"] == "ServiceAccount", subject
        assert subject["namespace"] == NAMESPACE, subject
        assert subject["name"] in accounts, subject
        assert subject["name"] in identities(), f"no rendered pod runs as {subject['name']}"


@pytest.mark.parametrize(("source", "binding"), BINDINGS, ids=[f"{s}:{ident(b)}" for s, b in BINDINGS])
def test_each_binding_grants_no_more_than_its_processes_need(source: str, binding: Doc) -> None:
    ref = binding["roleRef"]
    for subject in binding["subjects"]:
        does = identities().get(subject["name"], set())
        role = role_of(binding, SOURCES[source])
        if role is None:
            allowed_built_ins = set().union(*(BUILT_IN_ROLES.get(d, set()) for d in does))
            assert (ref["kind"], ref["name"]) in allowed_built_ins, f"{ident(binding)}: {ref} for {does}"
            continue
        allowed: dict[Grant, set[str]] = {}
        for part in does:
            for grant, verbs in ALLOWED.get(part, {}).items():
                allowed.setdefault(grant, set()).update(verbs)
        for rule in role.get("rules", []):
            for grant in grants(rule):
                if source == label(TEMPLATES):
                    assert role["kind"] == "Role", ident(role)
                    assert grant in PER_NAMESPACE, (ident(role), grant)
                    assert set(rule["verbs"]) <= PER_NAMESPACE[grant], rule
                    continue
                extra = set(rule["verbs"]) - allowed.get(grant, set())
                assert not extra, f"{ident(role)} gives {subject['name']} ({does}) {extra} on {grant}"
                if grant == ("", "configmaps"):
                    assert rule.get("resourceNames") == [AUTH_CONFIGMAP], rule
                    assert role["metadata"].get("namespace") == "kube-system", ident(role)
                if grant == ("coordination.k8s.io", "leases") and does == {"audit"}:
                    assert rule.get("resourceNames") == [SCHEDULER_LEASE], rule
                if grant == ("apiextensions.k8s.io", "customresourcedefinitions"):
                    assert sorted(rule.get("resourceNames", [])) == NIM_CRDS, rule


def effective(account: str) -> dict[Grant, set[str]]:
    """What the rendered roles bound to a ServiceAccount grant it, merged."""
    found: dict[Grant, set[str]] = {}
    for binding in bindings(INSTALLED):
        if any(s["name"] == account for s in binding["subjects"]) and (role := role_of(binding, INSTALLED)):
            for rule in role.get("rules", []):
                for grant in grants(rule):
                    found.setdefault(grant, set()).update(rule["verbs"])
    return found


def test_the_agent_gets_exactly_its_list() -> None:
    assert effective("nimdoctor-agent") == ALLOWED["agent"]


def test_the_audit_gets_exactly_its_list_and_no_secrets() -> None:
    assert effective("nimdoctor-audit") == ALLOWED["audit"]


def test_the_audit_reads_the_nim_crds_it_judges_with_and_no_other() -> None:
    # Without it every cycle falls back to the vendored schemas, with a note each time.
    assert NIM_CRDS == [
        "nimcaches.apps.nvidia.com",
        "nimpipelines.apps.nvidia.com",
        "nimservices.apps.nvidia.com",
    ]
    rules = [
        rule
        for binding in bindings(INSTALLED)
        if any(s["name"] == "nimdoctor-audit" for s in binding["subjects"])
        and (role := role_of(binding, INSTALLED)) is not None
        for rule in role.get("rules", [])
        if ("apiextensions.k8s.io", "customresourcedefinitions") in set(grants(rule))
    ]
    assert [(sorted(r["resourceNames"]), r["verbs"]) for r in rules] == [(NIM_CRDS, ["get"])]


def test_the_extender_can_read_nodereports_and_resource_claims_wherever_it_runs() -> None:
    for account, does in identities().items():
        if "extender" in does:
            granted = effective(account)
            for grant, verbs in ALLOWED["extender"].items():
                assert granted.get(grant, set()) >= verbs, (account, grant)


@pytest.mark.parametrize("grant", sorted(PER_NAMESPACE))
def test_only_the_per_namespace_templates_read_secrets_and_write_events(grant: Grant) -> None:
    holding = [
        (source, ident(role))
        for source, role in ROLES
        if any(grant in set(grants(r)) for r in role.get("rules", []))
    ]
    template = templates()
    (role,) = [r for r in roles(template) if grant in set(grants(r["rules"][0]))]
    assert holding == [(label(TEMPLATES), ident(role))], f"{grant} outside the per-namespace templates"
    assert role["kind"] == "Role"
    assert "namespace" not in role["metadata"]
    assert role["rules"] == [
        {"apiGroups": [grant[0]], "resources": [grant[1]], "verbs": sorted(PER_NAMESPACE[grant])}
    ]
    (binding,) = [b for b in bindings(template) if b["roleRef"]["name"] == role["metadata"]["name"]]
    assert binding["kind"] == "RoleBinding"
    assert "namespace" not in binding["metadata"]
    assert binding["roleRef"] == {"apiGroup": RBAC_GROUP, "kind": "Role", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "nimdoctor-audit", "namespace": NAMESPACE}
    ]


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_role_is_bound_and_every_binding_resolves(source: str) -> None:
    docs = SOURCES[source]
    bound = [role_of(b, docs) for b in bindings(docs)]
    assert all(any(role is b for b in bound) for role in roles(docs)), "a role that nothing binds"
