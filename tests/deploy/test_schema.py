"""Every rendered built-in object is valid against the Kubernetes 1.32 schemas, strictly: no unknown field."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from tests.deploy.manifests import INSTALL, Doc, every_document, ident, render

KUBERNETES = "1.32.0"
# Custom resources kubernetes-validate has no schema for, and where each is checked instead.
CUSTOM_KINDS = {
    "ServiceMonitor": "tests/deploy/test_render.py (selectors, ports, relabelling)",
    "PrometheusRule": "tests/alerts/test_rules.py (promtool check rules on its groups)",
}

DOCUMENTS = every_document()


@pytest.mark.parametrize(("source", "doc"), DOCUMENTS, ids=[f"{s}:{ident(d)}" for s, d in DOCUMENTS])
def test_built_in_objects_validate_strictly_against_kubernetes_1_32(source: str, doc: Doc) -> None:
    try:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        assert doc["kind"] in CUSTOM_KINDS, f"{source}: no schema for {ident(doc)}, and no other check of it"
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{source}: {ident(doc)}: {exc.message} at {list(exc.path)}", pytrace=False)


def test_strict_validation_rejects_an_unknown_field() -> None:
    # The check above can fail: a misspelt field in the agent's pod is caught.
    daemonset = copy.deepcopy(next(d for d in render(INSTALL) if d["kind"] == "DaemonSet"))
    daemonset["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError, match="readOnlyRootFileSystem"):
        kubernetes_validate.validate(daemonset, KUBERNETES, strict=True)
