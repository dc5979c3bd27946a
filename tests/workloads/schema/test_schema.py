"""Schema validation offline: unknown and misplaced fields with a near miss, YAML numbers for strings, enums,
required fields and bounds, each a finding with its file, line, column and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.workloads.schema.objects import SERVICE, brief, lint_objects, lint_text, manifest

ROUTER_AND_TAG = textwrap.dedent(
    """\
    apiVersion: apps.nvidia.com/v1alpha1
    kind: NIMService
    metadata:
      name: llm
      namespace: nim
    spec:
      image:
        repository: nvcr.io/nim/meta/llama-3.2-1b-instruct
        tag: 1.8
        pullSecret: ngc-secret
      authSecret: ngc-api-secret
      replica: 2
      nodeselector:
        nvidia.com/gpu.present: "true"
      storage:
        nimcache:
          name: llm-cache
      router:
        hostDomainName: example.com
      expose:
        service: {port: 8000}
    """
)


def test_the_issues_misses_are_each_a_finding_with_position_and_hint(tmp_path: Path) -> None:
    found = {f["field"]: f for f in lint_text(tmp_path, ROUTER_AND_TAG)}
    router = found["spec.router"]
    assert (router["id"], router["status"], router["line"], router["column"]) == ("NIM-OP-002", "fail", 18, 3)
    assert router["file"].endswith("objects.yaml")
    assert "did you mean spec.expose.router?" in router["message"]
    assert "spec.expose.router" in router["fix"]
    tag = found["spec.image.tag"]
    assert (tag["id"], tag["line"], tag["column"]) == ("NIM-OP-001", 9, 5)
    assert "YAML reads 1.8 as a number" in tag["message"]
    assert 'tag: "1.8"' in tag["fix"]
    hints = {
        field: f["message"].split("did you mean ")[-1]
        for field, f in found.items()
        if f["id"] == "NIM-OP-002"
    }
    assert hints == {
        "spec.router": "spec.expose.router?",
        "spec.replica": "spec.replicas?",
        "spec.nodeselector": "spec.nodeSelector?",
        "spec.storage.nimcache": "spec.storage.nimCache?",
        "spec.image.pullSecret": "spec.image.pullSecrets?",
    }
    # The webhook never sees a tag the schema refused: one finding, not two.
    assert [f["id"] for f in found.values() if f["field"] == "spec.image.tag"] == ["NIM-OP-001"]


def test_a_valid_service_and_cache_have_no_operator_finding(tmp_path: Path) -> None:
    assert lint_objects(tmp_path, SERVICE, manifest("NIMCache", {})) == []


def test_an_unknown_field_without_a_near_miss_says_delete(tmp_path: Path) -> None:
    [finding] = lint_objects(tmp_path, manifest("NIMService", {"flavour": "spicy"}))
    assert finding["field"] == "spec.flavour"
    assert "did you mean" not in finding["message"]
    assert finding["fix"].startswith("spec.flavour: delete flavour")


def test_maps_and_preserved_fields_take_any_key(tmp_path: Path) -> None:
    free = {"annotations": {"anything/goes": "yes"}, "labels": {"team": "a"}, "nodeSelector": {"any": "key"}}
    assert lint_objects(tmp_path, manifest("NIMService", free)) == []


def test_missing_required_field(tmp_path: Path) -> None:
    findings = lint_objects(tmp_path, manifest("NIMService", {"image": None}))
    assert ("NIM-OP-001", "fail", "spec.image") in brief(findings)


def test_enum_with_a_case_near_miss(tmp_path: Path) -> None:
    [finding] = lint_objects(tmp_path, manifest("NIMService", {"inferencePlatform": "KServe"}))
    assert finding["field"] == "spec.inferencePlatform"
    assert "not one of: standalone, kserve" in finding["message"]
    assert "did you mean 'kserve'?" in finding["fix"]


def test_minimum_and_pattern(tmp_path: Path) -> None:
    spec = {"replicas": -1, "storage": {"sharedMemorySizeLimit": "lots"}}
    fields = {f["field"]: f["message"] for f in lint_objects(tmp_path, manifest("NIMService", spec))}
    assert "less than the minimum of 0" in fields["spec.replicas"]
    assert "does not match" in fields["spec.storage.sharedMemorySizeLimit"]


def test_quantities_are_int_or_string(tmp_path: Path) -> None:
    ok = {
        "resources": {"limits": {"nvidia.com/gpu": 2, "memory": "64Gi"}},
        "storage": {"sharedMemorySizeLimit": "16Gi"},
    }
    assert lint_objects(tmp_path, manifest("NIMService", ok)) == []


def test_a_boolean_where_a_string_belongs_says_quote_it(tmp_path: Path) -> None:
    [finding] = lint_objects(tmp_path, manifest("NIMService", {"image": {"pullPolicy": True}}))
    assert "as a boolean" in finding["message"]
    assert "quote it" in finding["fix"]


def test_null_fields_are_pruned_like_the_api_server_does(tmp_path: Path) -> None:
    text = lint_text(
        tmp_path, ROUTER_AND_TAG.replace("  router:\n    hostDomainName: example.com\n", "  multiNode:\n")
    )
    assert not [f for f in text if f["field"].startswith("spec.multiNode")]


def test_a_pipeline_service_is_checked_at_its_place_in_the_pipeline(tmp_path: Path) -> None:
    service_spec = {**SERVICE["spec"], "router": {"hostDomainName": "example.com"}}
    pipeline = {
        "apiVersion": "apps.nvidia.com/v1alpha1",
        "kind": "NIMPipeline",
        "metadata": {"name": "rag", "namespace": "nim"},
        "spec": {"services": [{"name": "llm", "enabled": True, "spec": service_spec}]},
    }
    [finding] = lint_objects(tmp_path, pipeline)
    assert finding["field"] == "spec.services[0].spec.router"
    assert "did you mean spec.services[0].spec.expose.router?" in finding["message"]


MESSY = textwrap.dedent(
    """\
    apiVersion: apps.nvidia.com/v1alpha1
    kind: NIMService
    metadata: {name: llm, namespace: nim}
    spec:
      image: {repository: nvcr.io/nim/x, tag: 2024-01-01}
      authSecret: ngc-api-secret
      storage: {emptyDir: {sizeLimit: [1]}}
      multiNode: {parallelism: {tensor: 2024-01-01}, mpi: {}, ray: {}}
      scale: {enabled: "yes"}
      draResources: [null, 5]
    """
)


def test_values_of_every_wrong_type_are_findings_never_a_crash(tmp_path: Path) -> None:
    found = {f["field"]: f for f in lint_text(tmp_path, MESSY)}
    assert set(found) == {
        "spec.image.tag",
        "spec.storage.emptyDir.sizeLimit",
        "spec.multiNode.parallelism.tensor",
        "spec.scale.enabled",
        "spec.draResources[0]",
        "spec.draResources[1]",
    }
    assert {f["id"] for f in found.values()} == {"NIM-OP-001"}
    assert found["spec.image.tag"]["fix"] == 'spec.image.tag: quote it: tag: "2024-01-01"'
    assert "remove the quotes" in found["spec.scale.enabled"]["fix"]
    assert "neither an integer nor a string" in found["spec.storage.emptyDir.sizeLimit"]["message"]


def test_an_env_value_of_the_wrong_type_is_named_by_its_type_never_shown(tmp_path: Path) -> None:
    env = [{"name": "NGC_API_KEY", "value": 8675309123}, {"name": "HF_TOKEN", "value": {"hf": "tok3n"}}]
    findings = lint_objects(tmp_path, manifest("NIMService", {"env": env}))
    assert brief(findings) == {
        ("NIM-OP-001", "fail", "spec.env[0].value"),
        ("NIM-OP-001", "fail", "spec.env[1].value"),
    }
    text = str(findings)
    assert "8675309123" not in text
    assert "tok3n" not in text
    number, mapping = sorted(findings, key=lambda f: str(f["field"]))
    assert "a number where the CRD wants string" in number["message"]
    assert "quote value's value as written" in number["fix"]
    assert "a mapping where the CRD wants string" in mapping["message"]


def test_a_wrong_value_in_args_or_command_is_never_shown(tmp_path: Path) -> None:
    spec = {"args": ["--token", 86753091234], "command": [{"sh": "s3cr3t-t0ken"}]}
    findings = lint_objects(tmp_path, manifest("NIMService", spec))
    assert {f["field"] for f in findings if f["id"] == "NIM-OP-001"} == {"spec.args[1]", "spec.command[0]"}
    text = str(findings)
    assert "86753091234" not in text
    assert "s3cr3t-t0ken" not in text
