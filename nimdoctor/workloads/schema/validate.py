"""Check a NIM spec against its CRD schema the way the API server does, with jsonschema.

CRD schemas are structural OpenAPI v3, close to JSON Schema draft 4, with Kubernetes' additions, which the
validator here adds as keywords:
- a field the schema does not name is pruned by the API server (or rejected with strict field validation):
  reported as unknown, unless its object has `additionalProperties` or `x-kubernetes-preserve-unknown-fields`;
- `null` for a field that is not `nullable` is pruned, then `default`s are filled in, before any validation;
- `x-kubernetes-validations` CEL rules run on each node once its fields are defaulted (so after `properties`);
- `x-kubernetes-int-or-string` is an `anyOf` of integer and string in the schema itself.
The spec is copied first: pruning and defaulting never touch the caller's data.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from nimdoctor.workloads.model import FieldPath, field_text
from nimdoctor.workloads.schema import cel
from nimdoctor.workloads.schema.hints import explain_hidden_type, explain_type, suggest_field, suggest_value

Family = Literal["schema", "unknown", "cel"]
UNKNOWN = "x-nimdoctor-unknown-field"
CEL = "x-kubernetes-validations"
_EMBEDDED = ("apiVersion", "kind", "metadata")
# `properties` first (it prunes and defaults), CEL rules last (they read the defaulted fields).
_ORDER = {"properties": 0, CEL: 2}
_NAMED = re.compile(r"\.?spec\.([A-Za-z0-9_.]+[A-Za-z0-9_])")


@dataclass(frozen=True)
class Problem:
    """What the API server would say about one field: `path` is relative to the validated spec."""

    family: Family
    path: FieldPath
    message: str
    fix: str
    hint: FieldPath | None = None  # for an unknown field: where it probably belongs


@dataclass(frozen=True)
class Outcome:
    """A spec's problems, and the spec as the API server would store it (nulls pruned, defaults filled in)."""

    problems: list[Problem]
    defaulted: Mapping[str, Any]


# The NIM-OP rules ask in turn about the same spec: the last answer is kept (the objects are held, so an
# identity match cannot be a recycled id).
_LAST: list[tuple[Mapping[str, Any], Mapping[str, Any], Outcome]] = []


def check(schema: Mapping[str, Any], spec: Mapping[str, Any]) -> Outcome:
    """Every schema, unknown-field and CEL problem of `spec` under `schema` (a CRD's spec schema)."""
    if _LAST and _LAST[0][0] is schema and _LAST[0][1] is spec:
        return _LAST[0][2]
    instance = copy.deepcopy(dict(spec))
    found = [_problem(error, schema) for error in _validator_class()(schema).iter_errors(instance)]
    outcome = Outcome(sorted(found, key=lambda p: [str(part) for part in p.path]), instance)
    _LAST[:] = [(schema, spec, outcome)]
    return outcome


def _problem(error: Any, root: Mapping[str, Any]) -> Problem:
    path: FieldPath = tuple(error.absolute_path)
    name = str(path[-1]) if path else "spec"
    keyword = error.validator
    if keyword == UNKNOWN:
        hint = suggest_field(root, path)
        return Problem("unknown", path, f"unknown field {name!r}", _unknown_fix(name, hint), hint)
    if keyword == CEL:
        rule = error.validator_value.get("rule")
        path = path or _named_field(error.message, error.instance)
        return Problem("cel", path, error.message, f"change the object so that the CRD's rule holds: {rule}")
    if keyword == "required":
        return Problem("schema", path, "required field is missing", f"set {name}")
    if keyword == "type":
        explain = explain_hidden_type if _may_hold_secret(path) else explain_type
        message, fix = explain(name, error.instance, error.validator_value)
        return Problem("schema", path, message, fix)
    if _may_hold_secret(path):
        # jsonschema's own messages quote the value: name the field and the constraint only.
        return Problem(
            "schema",
            path,
            f"{name} does not meet the CRD's {keyword} constraint (the value is not shown)",
            f"fix {name} ({keyword}: {error.validator_value!r})",
        )
    if keyword == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        message = f"{error.instance!r} is not one of: {allowed}"
        advice = suggest_value(error.instance, error.validator_value) or f"use one of {allowed}"
        return Problem("schema", path, message, advice)
    if keyword == "anyOf" and error.schema.get("x-kubernetes-int-or-string"):
        message = f"{error.instance!r} is neither an integer nor a string"
        return Problem("schema", path, message, "use a number or a quantity such as 10Gi")
    return Problem("schema", path, error.message, f"fix {name} ({keyword}: {error.validator_value!r})")


# Fields where a credential may be written inline: an env entry's value (`NGC_API_KEY`), a container's
# arguments or command (`--token ...`).
_SECRET_BEARING = frozenset({"env", "args", "command"})


def _may_hold_secret(path: FieldPath) -> bool:
    """Whether `path` lies in a field that may hold a key written inline, whose value is never shown."""
    return any(part in _SECRET_BEARING for part in path if isinstance(part, str))


def _named_field(message: str, spec: Any) -> FieldPath:
    """The field a spec-level rule's message names (`spec.replicas cannot be set...`), when the spec has it:
    a finding there points at the line to change rather than at `spec:`."""
    match = _NAMED.search(message)
    node = spec
    path: list[str] = []
    for part in match.group(1).split(".") if match else []:
        if not isinstance(node, dict) or part not in node:
            break
        node = node[part]
        path.append(part)
    return tuple(path)


def _unknown_fix(name: str, hint: FieldPath | None) -> str:
    if hint:
        return f"move or rename {name} to {field_text(hint)}"
    return f"delete {name}: the CRD has no such field"


def _in_order(schema: Any) -> Any:
    return sorted(schema.items(), key=lambda item: _ORDER.get(item[0], 1))


@functools.cache
def _validator_class() -> Any:
    from jsonschema import Draft4Validator, validators
    from jsonschema.exceptions import ValidationError

    def properties(
        validator: Any, props: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
    ) -> Iterator[Any]:
        if not isinstance(instance, dict):
            return
        for name in [k for k, v in instance.items() if v is None and k in props]:
            if not props[name].get("nullable"):
                del instance[name]
        for name, sub in props.items():
            if name not in instance and "default" in sub:
                instance[name] = copy.deepcopy(sub["default"])
        for name, sub in props.items():
            if name in instance:
                yield from validator.descend(instance[name], sub, path=name, schema_path=name)
        if "additionalProperties" in schema or schema.get("x-kubernetes-preserve-unknown-fields"):
            return
        allowed = props.keys() | (_EMBEDDED if schema.get("x-kubernetes-embedded-resource") else ())
        for name in instance:
            if name not in allowed:
                yield ValidationError(f"unknown field {name!r}", validator=UNKNOWN, path=[name])

    def required(validator: Any, names: list[str], instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
        if isinstance(instance, dict):
            for name in names:
                if name not in instance:
                    yield ValidationError(f"{name!r} is required", path=[name])

    def type_(validator: Any, types: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
        if instance is None and schema.get("nullable"):
            return
        yield from Draft4Validator.VALIDATORS["type"](validator, types, instance, schema)

    def rules(
        validator: Any, entries: list[Mapping[str, Any]], instance: Any, schema: Mapping[str, Any]
    ) -> Iterator[Any]:
        for rule in entries:
            try:
                if cel.holds(rule, instance):
                    continue
            except cel.Unevaluable:
                continue
            message = str(rule.get("message") or f"failed rule: {rule.get('rule')}")
            yield ValidationError(message, validator=CEL, validator_value=rule)

    return validators.create(
        meta_schema=Draft4Validator.META_SCHEMA,
        validators={
            **Draft4Validator.VALIDATORS,
            "properties": properties,
            "required": required,
            "type": type_,
            CEL: rules,
        },
        type_checker=Draft4Validator.TYPE_CHECKER,
        applicable_validators=_in_order,
    )
