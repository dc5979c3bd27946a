"""The agent writes only its own Node and NodeReport: the rendered ValidatingAdmissionPolicy, evaluated with
cel-python on the requests the agent really makes (built from the publisher's own patches) and on the ones a
compromised node would."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from nimdoctor.cluster import node as node_meta
from nimdoctor.cluster.nodereport import GROUP, PLURAL
from tests.deploy.admission import Request, denials
from tests.deploy.manifests import INSTALL, NAMESPACE, Doc, render

AGENT = f"system:serviceaccount:{NAMESPACE}:nimdoctor-agent"
NODE_CLAIM = "authentication.kubernetes.io/node-name"
HERE, THERE = "gpu-node-1", "gpu-node-2"

INSTALLED = render(INSTALL)
(POLICY,) = [d for d in INSTALLED if d["kind"] == "ValidatingAdmissionPolicy"]
(BINDING,) = [d for d in INSTALLED if d["kind"] == "ValidatingAdmissionPolicyBinding"]


def a_node(name: str) -> Doc:
    """A Node as the kubelet and GPU Feature Discovery leave it (abridged)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "nvidia.com/gpu.present": "true"},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": "10.244.1.0/24"},
        "status": {
            "capacity": {"cpu": "224", "nvidia.com/gpu": "8"},
            "allocatable": {"cpu": "223", "nvidia.com/gpu": "8"},
            "addresses": [{"type": "InternalIP", "address": "10.0.0.11"}],
            "nodeInfo": {"kubeletVersion": "v1.31.4"},
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    }


def node_write(
    new: Doc, old: Doc, *, status: bool = False, claim: str | None = HERE, user: str = AGENT
) -> Request:
    extra = {NODE_CLAIM: [claim]} if claim is not None else {}
    return Request(user, extra, "UPDATE", "", "nodes", "status" if status else "", new, old)


def merged(node: Doc, patch: dict[str, Any]) -> Doc:
    """`node` after a JSON merge patch of its metadata (what the API server stores for the agent's patch)."""
    after = copy.deepcopy(node)
    for field, changes in patch["metadata"].items():
        values = after["metadata"].setdefault(field, {})
        for key, value in changes.items():
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
    return after


def agents_metadata_patch(node: Doc) -> Doc:
    labels = {node_meta.READY_LABEL: "false", node_meta.CLIQUE_LABEL: "8", node_meta.NOFILE_LABEL: None}
    patch = node_meta.metadata_patch(
        labels, {node_meta.HASH_ANNOTATION: "0123456789abcdef"}, node["metadata"]
    )
    assert patch is not None
    return merged(node, patch)


def agents_condition(node: Doc) -> Doc:
    wanted = node_meta.Condition("True", "NimGpu003Failed", "NIM-GPU-003 fail: ECC errors")
    conditions = node["status"]["conditions"]
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ours = node_meta.condition_object(wanted, node_meta.find_condition(conditions), now)
    after = copy.deepcopy(node)
    after["status"]["conditions"] = node_meta.replace_condition(conditions, ours)
    return after


def report(name: str) -> Doc:
    return {"apiVersion": f"{GROUP}/v1alpha1", "kind": "NodeReport", "metadata": {"name": name}}


def test_the_binding_denies_with_the_policy_and_the_policy_fails_closed() -> None:
    assert BINDING["spec"] == {"policyName": POLICY["metadata"]["name"], "validationActions": ["Deny"]}
    assert POLICY["spec"]["failurePolicy"] == "Fail"


def test_the_agent_may_write_its_own_nodes_labels_annotation_and_condition() -> None:
    node = a_node(HERE)
    assert denials(POLICY, node_write(agents_metadata_patch(node), node)) == []
    assert denials(POLICY, node_write(agents_condition(node), node, status=True)) == []


def test_the_agent_may_create_and_update_its_own_nodereport() -> None:
    extra = {NODE_CLAIM: [HERE]}
    assert denials(POLICY, Request(AGENT, extra, "CREATE", GROUP, PLURAL, "", report(HERE))) == []
    updated = {**report(HERE), "status": {"ready": False}}
    assert (
        denials(POLICY, Request(AGENT, extra, "UPDATE", GROUP, PLURAL, "status", updated, report(HERE))) == []
    )


def test_another_nodes_node_and_nodereport_are_refused() -> None:
    node = a_node(THERE)
    (message,) = denials(POLICY, node_write(agents_metadata_patch(node), node)) or ["allowed"]
    assert message == f"the agent on node {HERE} may write only its own nodes, not {THERE}"
    forged = Request(AGENT, {NODE_CLAIM: [HERE]}, "CREATE", GROUP, PLURAL, "", report(THERE))
    assert denials(POLICY, forged) == [
        f"the agent on node {HERE} may write only its own {PLURAL}, not {THERE}"
    ]


def test_a_token_without_the_node_claim_writes_nothing() -> None:
    node = a_node(HERE)
    found = denials(POLICY, node_write(agents_metadata_patch(node), node, claim=None)) or []
    assert any("carries no node claim" in m for m in found), found
    bare = Request(AGENT, {}, "CREATE", GROUP, PLURAL, "", report(HERE))
    assert any("carries no node claim" in m for m in denials(POLICY, bare) or []), bare


def _with(node: Doc, path: tuple[str, ...], value: Any) -> Doc:
    after = copy.deepcopy(node)
    target = after
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    return after


HOSTILE_NODE_WRITES = {
    "relabel another key": (
        ("metadata", "labels", "nvidia.com/gpu.present"),
        "false",
        "nimdoctor.io/ labels",
    ),
    "add a foreign label": (
        ("metadata", "labels", "node-role.kubernetes.io/nim"),
        "",
        "nimdoctor.io/ labels",
    ),
    "other annotation": (("metadata", "annotations", "nimdoctor.io/other"), "x", "capabilities-hash"),
    "cordon": (("spec", "unschedulable"), True, "spec"),
    "taint": (("spec", "taints"), [{"key": "x", "effect": "NoSchedule"}], "spec"),
    "finalizer": (("metadata", "finalizers"), ["nimdoctor.io/hold"], "finalizers"),
}


@pytest.mark.parametrize(("path", "value", "named"), HOSTILE_NODE_WRITES.values(), ids=HOSTILE_NODE_WRITES)
def test_the_agent_may_not_touch_anything_else_on_its_own_node(
    path: tuple[str, ...], value: Any, named: str
) -> None:
    node = a_node(HERE)
    found = denials(POLICY, node_write(_with(agents_metadata_patch(node), path, value), node)) or []
    assert len(found) == 1, found
    assert named in found[0], found


HOSTILE_STATUS_WRITES = {
    "mark it not ready": (("status", "conditions"), [{"type": "Ready", "status": "False"}]),
    "drop the kubelet's condition": (("status", "conditions"), []),
    "claim more GPUs": (("status", "capacity"), {"cpu": "224", "nvidia.com/gpu": "16"}),
    "claim allocatable": (("status", "allocatable"), {"cpu": "223", "nvidia.com/gpu": "16"}),
    "move its address": (("status", "addresses"), [{"type": "InternalIP", "address": "10.9.9.9"}]),
}


@pytest.mark.parametrize(("path", "value"), HOSTILE_STATUS_WRITES.values(), ids=HOSTILE_STATUS_WRITES)
def test_the_agent_may_change_only_its_condition_in_its_nodes_status(
    path: tuple[str, ...], value: Any
) -> None:
    node = a_node(HERE)
    found = denials(POLICY, node_write(_with(agents_condition(node), path, value), node, status=True)) or []
    assert found == ["the agent may change only the NIMNotReady condition of its Node's status"]


def test_other_writers_and_other_resources_are_not_judged() -> None:
    node = a_node(THERE)
    kubelet = node_write(_with(node, ("spec", "unschedulable"), True), node, user="system:node:gpu-node-2")
    assert denials(POLICY, kubelet) is None
    pod = Request(AGENT, {NODE_CLAIM: [HERE]}, "UPDATE", "", "pods", "", {"metadata": {"name": "p"}}, None)
    assert denials(POLICY, pod) is None


def test_the_policy_judges_every_write_the_agents_role_allows() -> None:
    """Whatever RBAC grants the agent beyond reading is covered by the policy's match rules."""
    (role,) = [
        d for d in INSTALLED if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "nimdoctor-agent"
    ]
    verbs = {"create": "CREATE", "patch": "UPDATE", "update": "UPDATE", "delete": "DELETE"}
    rules = POLICY["spec"]["matchConstraints"]["resourceRules"]
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in set(rule["verbs"]) & set(verbs):
                    assert any(
                        group in r["apiGroups"]
                        and resource in r["resources"]
                        and verbs[verb] in r["operations"]
                        for r in rules
                    ), (group, resource, verb)
