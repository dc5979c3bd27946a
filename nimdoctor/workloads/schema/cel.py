"""Evaluate a CRD's `x-kubernetes-validations` CEL rules with the `common-expression-language` library.

The NIM CRDs' rules use has(), size(), ternaries, arithmetic and comparisons on `self`, which this library
evaluates as Kubernetes does (cel-python, the other candidate, also does, about 50x slower). Transition rules
(those reading `oldSelf`) only apply to an update and are skipped: lint judges an object being created.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

_OLD_SELF = re.compile(r"\boldSelf\b")


class Unevaluable(Exception):
    """A rule that cannot be judged here (a transition rule, or a value CEL cannot take, e.g. a YAML date)."""


@functools.cache
def _program(rule: str) -> Any:
    import cel  # the library's import costs 0.2 s: only when a rule is evaluated

    return cel.compile(rule)


def holds(rule: Mapping[str, Any], value: Any) -> bool:
    """Whether `rule` (an `x-kubernetes-validations` entry) holds for `value` (its node's `self`).

    Raises `Unevaluable` when it cannot be judged; an evaluation error (a field of the wrong type, which the
    schema reports on its own) is `Unevaluable` too, as the API server's schema check would come first.
    """
    text = rule.get("rule")
    if not isinstance(text, str) or _OLD_SELF.search(text):
        raise Unevaluable("transition rule" if isinstance(text, str) else "no rule")
    try:
        result = _program(text).execute({"self": value})
    except Exception as exc:  # the library raises ValueError, TypeError, KeyError or RuntimeError
        raise Unevaluable(str(exc)) from exc
    return result is not False
