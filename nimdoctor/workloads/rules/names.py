"""Names that reach a fix text: validated as Kubernetes names, shell-quoted, and resolved in the lint input.

A fix prints commands people paste into a shell. A name comes from a manifest or the API server and may be
hostile (`ngc;curl x|sh;#`, `$(touch pwned)`, a newline): a name that is not a valid Kubernetes name is a
finding of its own, never part of a command, and every name printed in a command is `shlex.quote`d (a valid
name needs no quotes, so it prints as written).
"""

from __future__ import annotations

import difflib
import re
import shlex

from nimdoctor.sanitize import clean_line
from nimdoctor.workloads.model import PvcInfo, SecretInfo, Subject, World

LIVE_ONLY = "checked against a live cluster only (nimdoctor run --cluster)"

# [Kubernetes] apimachinery validation: IsDNS1123Subdomain (most object names: Secret, PVC, NIMCache) and
# IsDNS1123Label (Namespace names).
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
SUBDOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")
LABEL = re.compile(_LABEL)
SUBDOMAIN_MAX, LABEL_MAX = 253, 63
# A placeholder nimdoctor prints itself (`<namespace>`): shown as written.
_PLACEHOLDER = re.compile(r"<[a-z ]+>")


def valid_name(name: str, *, label: bool = False) -> bool:
    """Whether `name` is a DNS-1123 subdomain (`label`: a DNS-1123 label), as the API server requires."""
    pattern, limit = (LABEL, LABEL_MAX) if label else (SUBDOMAIN, SUBDOMAIN_MAX)
    return len(name) <= limit and pattern.fullmatch(name) is not None


def printable_name(name: str, *, label: bool = False) -> bool:
    """A valid name (`label`: a namespace), or a placeholder nimdoctor prints itself (`<namespace>`)."""
    return valid_name(name, label=label) or _PLACEHOLDER.fullmatch(name) is not None


def shell(name: str) -> str:
    """`name` safe inside a shell command: as written when it is a valid name or our placeholder, else
    quoted (control characters escaped first, so a newline cannot start a new command line)."""
    if printable_name(name):
        return name
    return shlex.quote(clean_line(name))


def near_miss(world: World, kind: str, namespace: str | None, name: str) -> str:
    """`; did you mean X (file:line)?` when the lint input defines a similar name of `kind`, else ``."""
    if world.inputs is None:
        return ""
    names = {n: where for (k, ns, n), where in world.inputs.places.items() if k == kind and ns == namespace}
    close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    if not close:
        return ""
    return f"; did you mean {kind} {close[0]} ({names[close[0]][0]})?"


def absent(world: World, kind: str, namespace: str | None, name: str) -> str:
    """Why a name the input does not define is left to the cluster, with a near-miss hint."""
    where = "not in this lint input" if world.inputs is not None else "not read"
    return f"{kind} {shell(name)} is {where}: {LIVE_ONLY}{near_miss(world, kind, namespace, name)}"


def defined_at(world: World, subject: Subject) -> str:
    """Where the lint input defines `subject` ("file:line"), or ``."""
    if world.inputs is None:
        return ""
    places = world.inputs.places.get((subject.ref.kind, subject.ref.namespace, subject.ref.name), ())
    return places[0] if places else ""


def find_secret(world: World, namespace: str | None, name: str) -> SecretInfo | None:
    """The Secret as the cluster has it, else as the lint input defines it; None when neither says."""
    if world.cluster is not None:
        return world.cluster.secrets.get((namespace, name)) if namespace is not None else None
    return world.inputs.secrets.get((namespace, name)) if world.inputs is not None else None


def find_pvc(world: World, namespace: str | None, name: str) -> PvcInfo | None:
    """The PVC as the cluster has it, else as the lint input defines it; None when neither says."""
    if world.cluster is not None:
        return world.cluster.pvcs.get((namespace, name)) if namespace is not None else None
    return world.inputs.pvcs.get((namespace, name)) if world.inputs is not None else None
