"""The NodeReport CRD: generated from the report model, structural, up to date on disk, and keeping every
field the agent writes (a real API server prunes what the schema does not name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import msgspec
import pytest

from nimdoctor.cluster.crd import CrdSchemaError, nodereport_crd, render, status_schema, structural
from nimdoctor.cluster.nodereport import build_status, status_document
from nimdoctor.report import report_schema
from nimdoctor.simulation.machine import builtin_names
from tests.cluster.reports import NOW, report_of

REPO = Path(__file__).resolve().parent.parent.parent
CRD_FILE = REPO / "daemonset" / "crd" / "nodereport.yaml"
FORBIDDEN = ("$ref", "anyOf", "oneOf", "allOf", "not", "definitions", "$defs")


def openapi_to_jsonschema(node: dict[str, Any]) -> dict[str, Any]:
    """The CRD schema as a strict JSON Schema: `nullable` allows null, and an object with properties
    accepts no other key (what an API server would prune fails validation instead)."""
    out = {k: v for k, v in node.items() if k not in ("nullable", "x-kubernetes-preserve-unknown-fields")}
    if node.get("nullable"):
        out["type"] = [node["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if "properties" in node:
        out["properties"] = {k: openapi_to_jsonschema(v) for k, v in node["properties"].items()}
        out["additionalProperties"] = False
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = openapi_to_jsonschema(node["additionalProperties"])
    if "items" in node:
        out["items"] = openapi_to_jsonschema(node["items"])
    return out


def walk(node: dict[str, Any], path: str = "") -> Any:
    """Every schema node with its path."""
    yield path, node
    for key, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{key}")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}.*")
    if "items" in node:
        yield from walk(node["items"], f"{path}[]")


def agent_status(machine: str, **kwargs: Any) -> dict[str, Any]:
    return status_document(build_status(report_of(machine, **kwargs), heartbeat=NOW))


def test_the_file_on_disk_is_generated_from_the_model() -> None:
    assert CRD_FILE.read_text() == render(), "run: python tools/gen_crd.py"


def test_the_crd_is_a_valid_customresourcedefinition() -> None:
    kubernetes_validate.validate(nodereport_crd(), "1.32.0", strict=True)  # raises when invalid


def test_cluster_scoped_with_status_subresource_and_printer_columns() -> None:
    spec = nodereport_crd()["spec"]
    assert spec["scope"] == "Cluster"
    (version,) = spec["versions"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"] if "priority" not in c}
    assert columns == {
        "Ready": ".status.ready",
        "GPUs": ".status.capabilities.gpuCount",
        "Product": ".status.capabilities.gpuProduct",
        "Clique": ".status.capabilities.maxNvlinkClique",
        "Nofile": ".status.capabilities.nofileSoft",
        "Failing": ".status.failingChecks",
        "Age": ".metadata.creationTimestamp",
    }
    schema = version["schema"]["openAPIV3Schema"]
    for column in version["additionalPrinterColumns"]:
        parts = column["jsonPath"].split(".")[1:]
        if parts[0] == "metadata":
            continue
        node = schema
        for part in parts:
            node = node["properties"][part]
        assert node["type"] == column["type"].replace("date", "string"), column


def test_the_schema_is_structural() -> None:
    schema = nodereport_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    preserved = []
    for path, node in walk(schema):
        assert "type" in node, f"{path}: no type"
        assert not set(FORBIDDEN) & set(node), f"{path}: {set(FORBIDDEN) & set(node)}"
        assert not ("properties" in node and "additionalProperties" in node), path
        assert node.get("additionalProperties", True) is not False, path
        if node.get("x-kubernetes-preserve-unknown-fields"):
            preserved.append(path)
    assert preserved == [".status.findings[].evidence"]


def test_the_crd_and_the_json_schema_come_from_the_same_model() -> None:
    report = structural(report_schema())["properties"]
    status = status_schema()["properties"]
    for key in ("ready", "capabilities", "facts", "findings", "simulated"):
        assert status[key] == report[key], key
    assert set(status) - set(report) == {"failingChecks", "observedAt", "heartbeatTime", "agentVersion"}


@pytest.mark.parametrize("machine", builtin_names())
def test_no_field_the_agent_writes_would_be_pruned(machine: str) -> None:
    strict = openapi_to_jsonschema(status_schema())
    jsonschema.validate(agent_status(machine), strict, format_checker=jsonschema.FormatChecker())


def test_nulls_validate_only_where_the_schema_is_nullable() -> None:
    strict = openapi_to_jsonschema(status_schema())
    status = agent_status("l40s-4x", unlimited=True)
    jsonschema.validate(status, strict)
    status["capabilities"]["gpuCount"] = None  # never null in the model: an API server would drop it
    with pytest.raises(jsonschema.ValidationError, match="None is not of type 'integer'"):
        jsonschema.validate(status, strict)


def test_an_unknown_key_would_be_pruned() -> None:
    status = agent_status("l40s-4x")
    status["capabilities"]["somethingNew"] = 1
    with pytest.raises(jsonschema.ValidationError, match="somethingNew"):
        jsonschema.validate(status, openapi_to_jsonschema(status_schema()))


class Node(msgspec.Struct):
    children: list[Node]


class Mixed(msgspec.Struct):
    value: int | str


@pytest.mark.parametrize(("model", "message"), [(Node, "recursive"), (Mixed, "union")])
def test_a_model_no_structural_schema_can_hold_is_refused(model: type, message: str) -> None:
    with pytest.raises(CrdSchemaError, match=message):
        structural(msgspec.json.schema(model))
