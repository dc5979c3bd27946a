"""Every CRD CEL rule (NIM-OP-003) and every ported webhook rule (NIM-OP-004, warnings NIM-OP-005): one
manifest that breaks it (exactly that finding) and a close one that does not (no finding at all). NIM-WL-005
reports the replicas-with-scale.enabled rule (tests/workloads/test_one_finding_per_problem.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.workloads.schema.objects import brief, lint_objects, manifest

HPA = {"enabled": True, "hpa": {"minReplicas": 1, "maxReplicas": 2}}
GATEWAY = {"name": "gw", "namespace": "gw-ns"}
DEVICE = {"name": "gpu", "count": 1}
INGRESS = {"ingressClass": "nginx"}
EPP = {
    "containerSpec": {"name": "epp", "image": {"repository": "epp", "tag": "1"}},
    "configMapRef": {"name": "e", "key": "k"},
}
KNATIVE = {"inferencePlatform": "kserve", "annotations": {"serving.kserve.io/deploymentMode": "Knative"}}


class Case(NamedTuple):
    kind: str
    bad: dict[str, Any]
    good: dict[str, Any]
    check: str
    field: str
    status: str = "fail"


def dra(entry: dict[str, Any]) -> dict[str, Any]:
    return {"draResources": [entry], "resources": None}


def claim_spec(device: dict[str, Any]) -> dict[str, Any]:
    return dra({"claimCreationSpec": {"devices": [{**DEVICE, **device}]}})


CEL = {
    "multiNode with autoscaling": Case(
        "NIMService",
        {"replicas": None, "multiNode": {"parallelism": {"tensor": 8}}, "scale": HPA},
        {"replicas": None, "multiNode": {"parallelism": {"tensor": 8}}},
        "NIM-OP-003",
        "spec",
    ),
    "expose.ingress with expose.router.ingress": Case(
        "NIMService",
        {
            "expose": {
                "ingress": {"enabled": True, "spec": {}},
                "router": {"hostDomainName": "x.io", "ingress": INGRESS},
            }
        },
        {"expose": {"router": {"hostDomainName": "x.io", "ingress": INGRESS}}},
        "NIM-OP-003",
        "spec.expose.ingress",
    ),
    "router ingress and gateway together": Case(
        "NIMService",
        {"expose": {"router": {"hostDomainName": "x.io", "ingress": INGRESS, "gateway": GATEWAY}}},
        {"expose": {"router": {"hostDomainName": "x.io", "gateway": GATEWAY}}},
        "NIM-OP-003",
        "spec.expose.router",
    ),
    "eppConfig configMapRef and config together": Case(
        "NIMService",
        {"expose": {"router": {"eppConfig": {**EPP, "config": {"plugins": [], "schedulingProfiles": []}}}}},
        {"expose": {"router": {"eppConfig": EPP}}},
        "NIM-OP-003",
        "spec.expose.router.eppConfig",
    ),
    "gateway backendRef Service without port": Case(
        "NIMService",
        {
            "expose": {
                "router": {"hostDomainName": "x.io", "gateway": {**GATEWAY, "backendRef": {"name": "s"}}}
            }
        },
        {
            "expose": {
                "router": {
                    "hostDomainName": "x.io",
                    "gateway": {**GATEWAY, "backendRef": {"name": "s", "port": 80}},
                }
            }
        },
        "NIM-OP-003",
        "spec.expose.router.gateway.backendRef",
    ),
    "mpi and ray together": Case(
        "NIMService",
        {"multiNode": {"parallelism": {"tensor": 8}, "mpi": {}, "ray": {}}},
        {"multiNode": {"parallelism": {"tensor": 8}, "ray": {}}},
        "NIM-OP-003",
        "spec.multiNode",
    ),
    "computeDomain without name when create is false": Case(
        "NIMService",
        {"multiNode": {"parallelism": {"tensor": 8}, "computeDomain": {"create": False}}},
        {"multiNode": {"parallelism": {"tensor": 8}, "computeDomain": {"create": False, "name": "cd"}}},
        "NIM-OP-003",
        "spec.multiNode.computeDomain",
    ),
    "DRA claim with two sources": Case(
        "NIMService",
        dra({"resourceClaimName": "a", "resourceClaimTemplateName": "b"}),
        dra({"resourceClaimTemplateName": "b"}),
        "NIM-OP-003",
        "spec.draResources[0]",
    ),
    "DRA device celExpressions beside attributeSelectors": Case(
        "NIMService",
        claim_spec(
            {
                "celExpressions": ["true"],
                "attributeSelectors": [{"key": "k", "op": "Equal", "value": {"intValue": 1}}],
            }
        ),
        claim_spec({"celExpressions": ["true"]}),
        "NIM-OP-003",
        "spec.draResources[0].claimCreationSpec.devices[0]",
    ),
    "NIMCache with no source": Case("NIMCache", {"source": {"ngc": None}}, {}, "NIM-OP-003", "spec.source"),
    "NIMCache with two sources": Case(
        "NIMCache",
        {
            "source": {
                "hf": {
                    "endpoint": "https://huggingface.co",
                    "namespace": "meta",
                    "modelName": "m",
                    "authSecret": "hf",
                    "modelPuller": "p",
                    "pullSecret": "s",
                }
            }
        },
        {},
        "NIM-OP-003",
        "spec.source",
    ),
    "NIMCache ngc model and modelEndpoint": Case(
        "NIMCache",
        {"source": {"ngc": {"modelEndpoint": "nvidia/llama"}}},
        {"source": {"ngc": {"model": None, "modelEndpoint": "nvidia/llama"}}},
        "NIM-OP-003",
        "spec.source.ngc",
    ),
    "NIMCache hf with modelName and datasetName": Case(
        "NIMCache",
        {
            "source": {
                "ngc": None,
                "hf": {
                    "endpoint": "https://huggingface.co",
                    "namespace": "meta",
                    "modelName": "m",
                    "datasetName": "d",
                    "authSecret": "hf",
                    "modelPuller": "p",
                    "pullSecret": "s",
                },
            }
        },
        {
            "source": {
                "ngc": None,
                "hf": {
                    "endpoint": "https://huggingface.co",
                    "namespace": "meta",
                    "modelName": "m",
                    "authSecret": "hf",
                    "modelPuller": "p",
                    "pullSecret": "s",
                },
            }
        },
        "NIM-OP-003",
        "spec.source.hf",
    ),
}

WEBHOOK = {
    "image.tag empty": Case("NIMService", {"image": {"tag": ""}}, {}, "NIM-OP-004", "spec.image.tag"),
    "image.repository empty": Case(
        "NIMService", {"image": {"repository": ""}}, {}, "NIM-OP-004", "spec.image.repository"
    ),
    "no storage source": Case(
        "NIMService", {"storage": {"nimCache": None}}, {}, "NIM-OP-004", "spec.storage"
    ),
    "several storage sources": Case(
        "NIMService",
        {"storage": {"emptyDir": {}}},
        {"storage": {"nimCache": None, "emptyDir": {}}},
        "NIM-OP-004",
        "spec.storage",
    ),
    "nimCache.profile without a name": Case(
        "NIMService",
        {"storage": {"nimCache": {"name": None, "profile": "abc"}}},
        {"storage": {"nimCache": {"profile": "abc"}}},
        "NIM-OP-004",
        "spec.storage.nimCache.name",
    ),
    "sharedMemorySizeLimit not above 0": Case(
        "NIMService",
        {"storage": {"sharedMemorySizeLimit": "0"}},
        {"storage": {"sharedMemorySizeLimit": "8Gi"}},
        "NIM-OP-004",
        "spec.storage.sharedMemorySizeLimit",
    ),
    "PVC without a name when create is false": Case(
        "NIMService",
        {"storage": {"nimCache": None, "pvc": {"create": False, "size": "50Gi"}}},
        {"storage": {"nimCache": None, "pvc": {"create": False, "name": "models"}}},
        "NIM-OP-004",
        "spec.storage.pvc.name",
    ),
    "PVC with an unknown access mode": Case(
        "NIMService",
        {"storage": {"nimCache": None, "pvc": {"create": True, "volumeAccessMode": "ReadWriteMost"}}},
        {"storage": {"nimCache": None, "pvc": {"create": True, "volumeAccessMode": "ReadWriteMany"}}},
        "NIM-OP-004",
        "spec.storage.pvc.volumeAccessMode",
    ),
    "router without hostDomainName": Case(
        "NIMService",
        {"expose": {"router": {"ingress": INGRESS}}},
        {"expose": {"router": {"hostDomainName": "x.io", "ingress": INGRESS}}},
        "NIM-OP-004",
        "spec.expose.router.hostDomainName",
    ),
    "grpcRoutesEnabled without grpcPort": Case(
        "NIMService",
        {"expose": {"router": {"hostDomainName": "x.io", "gateway": {**GATEWAY, "grpcRoutesEnabled": True}}}},
        {
            "expose": {
                "service": {"grpcPort": 8001},
                "router": {"hostDomainName": "x.io", "gateway": {**GATEWAY, "grpcRoutesEnabled": True}},
            }
        },
        "NIM-OP-004",
        "spec.expose.service.grpcPort",
    ),
    "metrics enabled without serviceMonitor": Case(
        "NIMService",
        {"metrics": {"enabled": True}},
        {"metrics": {"enabled": True, "serviceMonitor": {"interval": "30s"}}},
        "NIM-OP-004",
        "spec.metrics.serviceMonitor",
    ),
    "scale enabled without hpa": Case(
        "NIMService",
        {"replicas": None, "scale": {"enabled": True}},
        {"replicas": None, "scale": HPA},
        "NIM-OP-004",
        "spec.scale.hpa",
    ),
    "resources.claims set": Case(
        "NIMService",
        {"resources": {"claims": [{"name": "gpu"}]}},
        {"resources": {"claims": None}},
        "NIM-OP-004",
        "spec.resources.claims",
    ),
    "resourceClaimName with replicas above 1": Case(
        "NIMService",
        {**dra({"resourceClaimName": "c"}), "replicas": 2},
        {**dra({"resourceClaimTemplateName": "c"}), "replicas": 2},
        "NIM-OP-004",
        "spec.draResources[0].resourceClaimName",
    ),
    "resourceClaimName with autoscaling": Case(
        "NIMService",
        {**dra({"resourceClaimName": "c"}), "replicas": None, "scale": HPA},
        {**dra({"resourceClaimTemplateName": "c"}), "replicas": None, "scale": HPA},
        "NIM-OP-004",
        "spec.draResources[0].resourceClaimName",
    ),
    "the same resourceClaimName twice": Case(
        "NIMService",
        {"draResources": [{"resourceClaimName": "c"}, {"resourceClaimName": "c"}], "resources": None},
        {"draResources": [{"resourceClaimName": "c"}, {"resourceClaimName": "d"}], "resources": None},
        "NIM-OP-004",
        "spec.draResources[1].resourceClaimName",
    ),
    "claimCreationSpec without devices": Case(
        "NIMService",
        dra({"claimCreationSpec": {"devices": []}}),
        claim_spec({}),
        "NIM-OP-004",
        "spec.draResources[0].claimCreationSpec.devices",
    ),
    "DRA device count 0": Case(
        "NIMService",
        claim_spec({"count": 0}),
        claim_spec({"count": 2}),
        "NIM-OP-004",
        "spec.draResources[0].claimCreationSpec.devices[0].count",
    ),
    "DRA attribute selector with two values": Case(
        "NIMService",
        claim_spec(
            {
                "attributeSelectors": [
                    {"key": "k", "op": "Equal", "value": {"intValue": 1, "stringValue": "a"}}
                ]
            }
        ),
        claim_spec({"attributeSelectors": [{"key": "k", "op": "Equal", "value": {"intValue": 1}}]}),
        "NIM-OP-004",
        "spec.draResources[0].claimCreationSpec.devices[0].attributeSelectors[0].value",
    ),
    "DRA attribute selector version not semver": Case(
        "NIMService",
        claim_spec(
            {
                "attributeSelectors": [
                    {"key": "driverVersion", "op": "Equal", "value": {"versionValue": "580"}}
                ]
            }
        ),
        claim_spec(
            {
                "attributeSelectors": [
                    {"key": "driverVersion", "op": "Equal", "value": {"versionValue": "580.65.6"}}
                ]
            }
        ),
        "NIM-OP-004",
        "spec.draResources[0].claimCreationSpec.devices[0].attributeSelectors[0].value.versionValue",
    ),
    "DRA selectors with the same key": Case(
        "NIMService",
        claim_spec(
            {
                "attributeSelectors": [
                    {"key": "k", "op": "Equal", "value": {"intValue": 1}},
                    {"key": "gpu.nvidia.com/k", "op": "Equal", "value": {"intValue": 2}},
                ]
            }
        ),
        claim_spec(
            {
                "attributeSelectors": [
                    {"key": "k", "op": "Equal", "value": {"intValue": 1}},
                    {"key": "j", "op": "Equal", "value": {"intValue": 2}},
                ]
            }
        ),
        "NIM-OP-004",
        "spec.draResources[0].claimCreationSpec.devices[0].attributeSelectors[1]",
    ),
    "KServe with multiNode": Case(
        "NIMService",
        {"inferencePlatform": "kserve", "multiNode": {"parallelism": {"tensor": 8}}},
        {"inferencePlatform": "kserve"},
        "NIM-OP-004",
        "spec.multiNode",
    ),
    "Knative mode with autoscaling": Case(
        "NIMService",
        {**KNATIVE, "replicas": None, "scale": HPA},
        {**KNATIVE, "replicas": None},
        "NIM-OP-004",
        "spec.scale.enabled",
    ),
    "Knative mode with ingress": Case(
        "NIMService",
        {**KNATIVE, "expose": {"ingress": {"enabled": True, "spec": {}}}},
        KNATIVE,
        "NIM-OP-004",
        "spec.expose.ingress.enabled",
    ),
    "Knative mode with a router": Case(
        "NIMService",
        {**KNATIVE, "expose": {"router": {"hostDomainName": "x.io", "ingress": INGRESS}}},
        KNATIVE,
        "NIM-OP-004",
        "spec.expose.router.ingress",
    ),
    "Knative mode with metrics": Case(
        "NIMService",
        {**KNATIVE, "metrics": {"enabled": True, "serviceMonitor": {"interval": "30s"}}},
        KNATIVE,
        "NIM-OP-004",
        "spec.metrics.enabled",
    ),
    "LoadBalancer beside a router (warning)": Case(
        "NIMService",
        {
            "expose": {
                "service": {"type": "LoadBalancer"},
                "router": {"hostDomainName": "x.io", "ingress": INGRESS},
            }
        },
        {"expose": {"router": {"hostDomainName": "x.io", "ingress": INGRESS}}},
        "NIM-OP-005",
        "spec.expose.service.type",
        "warn",
    ),
    "authSecret empty (warning from 3.1.3)": Case(
        "NIMService", {"authSecret": ""}, {}, "NIM-OP-005", "spec.authSecret", "warn"
    ),
    "NIMCache ngc authSecret empty": Case(
        "NIMCache", {"source": {"ngc": {"authSecret": ""}}}, {}, "NIM-OP-004", "spec.source.ngc.authSecret"
    ),
    "NIMCache profiles [all] not alone": Case(
        "NIMCache",
        {
            "source": {
                "ngc": {"model": {"engine": None, "tensorParallelism": None, "profiles": ["all", "abc"]}}
            }
        },
        {"source": {"ngc": {"model": {"engine": None, "tensorParallelism": None, "profiles": ["all"]}}}},
        "NIM-OP-004",
        "spec.source.ngc.model.profiles",
    ),
    "NIMCache profiles beside engine": Case(
        "NIMCache",
        {"source": {"ngc": {"model": {"tensorParallelism": None, "profiles": ["abc"]}}}},
        {"source": {"ngc": {"model": {"engine": None, "tensorParallelism": None, "profiles": ["abc"]}}}},
        "NIM-OP-004",
        "spec.source.ngc.model.engine",
    ),
    "NIMCache qosProfile outside its enum": Case(
        "NIMCache",
        {"source": {"ngc": {"model": {"qosProfile": "fast"}}}},
        {"source": {"ngc": {"model": {"qosProfile": "latency"}}}},
        "NIM-OP-004",
        "spec.source.ngc.model.qosProfile",
    ),
    "NIMCache without a PVC": Case(
        "NIMCache", {"storage": {"pvc": None}}, {}, "NIM-OP-004", "spec.storage.pvc"
    ),
    "NIMCache PVC without a name when create is false": Case(
        "NIMCache",
        {"storage": {"pvc": {"create": False}}},
        {"storage": {"pvc": {"create": False, "name": "models"}}},
        "NIM-OP-004",
        "spec.storage.pvc.name",
    ),
    "NIMCache noProxy with a bad token": Case(
        "NIMCache",
        {"proxy": {"noProxy": "localhost,*bad*"}},
        {"proxy": {"noProxy": "localhost,.svc,10.0.0.0/8"}},
        "NIM-OP-004",
        "spec.proxy.noProxy",
    ),
    "NIMCache httpsProxy without a scheme": Case(
        "NIMCache",
        {"proxy": {"httpsProxy": "proxy:3128"}},
        {"proxy": {"httpsProxy": "http://proxy:3128"}},
        "NIM-OP-004",
        "spec.proxy.httpsProxy",
    ),
}


@pytest.mark.parametrize("case", [*CEL.values(), *WEBHOOK.values()], ids=[*CEL, *WEBHOOK])
def test_the_rule_fires_on_the_break_and_not_on_the_fix(tmp_path: Path, case: Case) -> None:
    bad = brief(lint_objects(tmp_path, manifest(case.kind, case.bad)))
    assert bad == {(case.check, case.status, case.field)}
    assert lint_objects(tmp_path, manifest(case.kind, case.good)) == []


def test_authsecret_was_required_by_the_312_webhook(tmp_path: Path) -> None:
    findings = lint_objects(
        tmp_path, manifest("NIMService", {"authSecret": ""}), args=("--operator-version", "3.1.2")
    )
    assert brief(findings) == {("NIM-OP-004", "fail", "spec.authSecret")}


def test_the_webhook_rules_skip_before_300(tmp_path: Path) -> None:
    findings = lint_objects(
        tmp_path, manifest("NIMService", {"image": {"tag": ""}}), args=("--operator-version", "2.0.2")
    )
    assert brief(findings) == {
        ("NIM-OP-004", "skip", "metadata.name"),
        ("NIM-OP-005", "skip", "metadata.name"),
    }


def test_every_finding_names_its_source_in_the_operator(tmp_path: Path) -> None:
    findings = lint_objects(
        tmp_path, manifest("NIMService", {"storage": {"nimCache": None}, "image": {"tag": ""}})
    )
    sources = {f["evidence"]["source"] for f in findings}
    assert sources == {
        "NVIDIA/k8s-nim-operator internal/webhook/apps/v1alpha1/nimservice_webhook_validation_helper.go "
        + function
        for function in ("validateImageConfiguration", "validateServiceStorageConfiguration")
    }
