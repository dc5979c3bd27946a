"""Evaluate a rendered ValidatingAdmissionPolicy on an admission request the way the API server does, with
`cel` (PyPI common-expression-language: Python bindings of a Rust CEL interpreter). cel-python (`celpy`) was
tried first and cannot: it has no heterogeneous equality, so `oldObject != null` on a map is an error there,
while the API server's cel-go answers true.

What the API server does and this copies: a request the policy's `matchConstraints` do not cover, or one that
fails a `matchCondition`, is not judged; otherwise each variable is bound under `variables`, and the request
is denied when any validation is false or cannot be evaluated (`failurePolicy: Fail`). What it does not copy:
type checking against the OpenAPI schemas (this interpreter is untyped) and the Kubernetes CEL libraries (the
policy uses none: only standard macros, `startsWith`, `has`, `in`, `size`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cel

from tests.deploy.manifests import Doc


class EvaluationError(Exception):
    """An expression that cannot be evaluated on this request (denied: failurePolicy Fail)."""


def _evaluate(expression: str, activation: dict[str, Any]) -> Any:
    try:
        return cel.evaluate(expression, activation)
    except (LookupError, TypeError, ValueError, RuntimeError) as exc:
        raise EvaluationError(f"{type(exc).__name__}: {exc}") from None


@dataclass(frozen=True)
class Request:
    """One admission request: who, what, and the object before (`old`) and after (`new`)."""

    username: str
    extra: dict[str, list[str]]
    operation: str
    group: str
    resource: str
    subresource: str
    new: Doc
    old: Doc | None = None

    def attributes(self) -> dict[str, Any]:
        return {
            "userInfo": {"username": self.username, "extra": self.extra},
            "operation": self.operation,
            "resource": {"group": self.group, "resource": self.resource},
            "subResource": self.subresource,
            "name": self.new["metadata"]["name"],
        }


def _covers(policy: Doc, request: Request) -> bool:
    full = f"{request.resource}/{request.subresource}" if request.subresource else request.resource
    return any(
        request.group in rule["apiGroups"]
        and full in rule["resources"]
        and request.operation in rule["operations"]
        for rule in policy["spec"]["matchConstraints"]["resourceRules"]
    )


def denials(policy: Doc, request: Request) -> list[str] | None:
    """None when the policy does not judge `request`; else the messages of the validations that deny it."""
    activation: dict[str, Any] = {
        "request": request.attributes(),
        "object": request.new,
        "oldObject": request.old,
    }
    if not _covers(policy, request):
        return None
    if not all(_evaluate(c["expression"], activation) for c in policy["spec"].get("matchConditions", [])):
        return None
    variables: dict[str, Any] = {}
    for variable in policy["spec"].get("variables", []):
        variables[variable["name"]] = _evaluate(
            variable["expression"], {**activation, "variables": variables}
        )
    activation["variables"] = variables
    found = []
    for validation in policy["spec"]["validations"]:
        try:
            allowed = bool(_evaluate(validation["expression"], activation))
        except EvaluationError as exc:
            allowed, validation = False, {"message": f"evaluation error: {exc}"}
        if not allowed:
            message = validation.get("message")
            if message is None:
                message = str(_evaluate(validation["messageExpression"], activation))
            found.append(message)
    return found
