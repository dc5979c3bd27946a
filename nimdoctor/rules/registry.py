"""Every rule, registered by the catalog id it judges.

A node rule is a pure function `(facts, check) -> Finding`; placement and workload rules register here too,
so one test can prove that every catalog id has exactly one rule and every rule has a catalog entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from nimdoctor.catalog import Check
from nimdoctor.report import Facts, Finding, Status

Probe = Literal["runtime", "gpu", "node"]
Kind = Literal["node", "placement", "workload"]
NodeRule = Callable[[Facts, Check], Finding]
_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Registered:
    """A rule and what it needs: `probes` names the facts a node rule reads."""

    check_id: str
    kind: Kind
    probes: frozenset[Probe]
    fn: Callable[..., Any]


RULES: dict[str, Registered] = {}


def register(check_id: str, *, kind: Kind, probes: frozenset[Probe]) -> Callable[[_F], _F]:
    """Decorator: register `fn` as the one rule for `check_id`."""

    def decorate(fn: _F) -> _F:
        if check_id in RULES:
            raise RuntimeError(f"two rules for {check_id}: {RULES[check_id].fn.__name__}, {fn.__name__}")
        RULES[check_id] = Registered(check_id=check_id, kind=kind, probes=probes, fn=fn)
        return fn

    return decorate


def node_rule(check_id: str, *probes: Probe) -> Callable[[NodeRule], NodeRule]:
    """Register a node rule that reads the facts of `probes`."""
    return register(check_id, kind="node", probes=frozenset(probes))


def finding(
    check: Check,
    status: Status,
    message: str,
    evidence: dict[str, Any] | None = None,
    **fix_values: Any,
) -> Finding:
    """A finding for `check`; the catalog's fix template is filled in for `fail` and `warn`, and for
    `error` when the rule gives the values (an error can have a known remedy, e.g. a hung GPU)."""
    wants_fix = status in (Status.FAIL, Status.WARN) or (status is Status.ERROR and fix_values)
    fix = check.render_fix(**fix_values) if wants_fix else None
    return Finding(
        id=check.id,
        status=status,
        severity=check.severity,
        title=check.title,
        message=message,
        fix=fix,
        evidence=evidence or {},
    )


def crashed(check: Check, exc: Exception) -> Finding:
    """The finding for a rule that raised: `error`, naming the exception, so the other findings still show."""
    return Finding(
        id=check.id,
        status=Status.ERROR,
        severity=check.severity,
        title=check.title,
        message=f"internal error while judging: {type(exc).__name__}: {exc}",
    )
