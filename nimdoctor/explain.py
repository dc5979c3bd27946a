"""A check explained for people: its fix with the catalog's values filled in, its why without provenance tags.

A fix template's placeholders are of two kinds (the catalog's `placeholders` says which): a catalog
parameter (`{dropIn}`), filled with its value, or a value the check finds when it runs, shown as a readable
name in angle brackets (`<current soft limit>`). A placeholder the catalog does not describe is shown by its
own name, so no raw `{placeholder}` is ever printed. A placeholder described as `optional: ...` is a note
the check adds only when it applies (empty otherwise): explain leaves it out rather than print its name.

The catalog's `why` texts tag each claim with the kind of source it comes from, and each check lists the
documents themselves (`sources`: title and address); explain prints the documents, then what the tags mean.
"""

from __future__ import annotations

import re
from typing import Any

from msgspec import UNSET

from nimdoctor.catalog import Check
from nimdoctor.catalog_params import fill, template_names
from nimdoctor.documents import CheckDocument, Placeholder, Reference, Source

SOURCES = {
    "NVIDIA": "NVIDIA's documentation, release notes or code",
    "SEED": "the field guide: a practitioner's planning defaults, not a specification",
    "DERIVED": "nimdoctor's arithmetic or inference from the sources above",
    "CODE": "the source code of the software involved (e.g. vLLM)",
}
_TAG = re.compile(r"\[(" + "|".join(SOURCES) + r")\]\s*")
OPTIONAL = "optional: "  # a placeholder's description: a note the check adds only when it applies
_PARAM_REF = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def param_text(value: Any) -> str:
    """A parameter's value as it reads in a fix: lists and mappings spelled out."""
    if isinstance(value, list | tuple):
        return ", ".join(map(param_text, value))
    if isinstance(value, dict):
        return ", ".join(f"{k}: {param_text(v)}" for k, v in value.items())
    return str(value)


def placeholders(check: Check) -> list[Placeholder]:
    """Each placeholder of the fix, with the catalog value that fills it or the readable name shown."""
    found = []
    for name in dict.fromkeys(template_names(check.fix)):
        described = check.placeholders.get(name)
        ref = _PARAM_REF.fullmatch(described or "")
        param = ref.group(1) if ref else _same_param(name, check)
        if param is not None and param in check.params:
            found.append(Placeholder(name=name, value=param_text(check.params[param])))
            continue
        readable = fill(described, {k: param_text(v) for k, v in check.params.items()}) if described else None
        optional = readable is not None and readable.startswith(OPTIONAL)
        readable = readable.removeprefix(OPTIONAL) if readable else name.replace("_", " ")
        found.append(Placeholder(name=name, runtime=readable, optional=True if optional else UNSET))
    return found


def _shown(placeholder: Placeholder) -> str:
    return "" if placeholder.optional is True else f"<{placeholder.runtime}>"


def _same_param(name: str, check: Check) -> str | None:
    """The parameter a placeholder names without a description (`dropin` for `dropIn`), if any."""
    key = name.replace("_", "").lower()
    return next((p for p in check.params if p.lower() == key), None)


def filled_fix(check: Check) -> str:
    """The fix with every placeholder replaced: catalog values as they are, run-time values as `<name>`,
    optional notes left out."""
    values = {p.name: p.value if isinstance(p.value, str) else _shown(p) for p in placeholders(check)}
    return fill(check.fix, values).strip()


def untagged(why: str) -> str:
    """`why` without its provenance tags."""
    return _TAG.sub("", why).strip()


def sources(why: str) -> list[Source]:
    """The provenance tags `why` uses, in order of first use, with what each means."""
    tags = dict.fromkeys(_TAG.findall(why))
    return [Source(tag=tag, meaning=SOURCES[tag]) for tag in tags]


def check_document(check: Check) -> CheckDocument:
    """The `Check` document `nimdoctor explain -o json|yaml` prints."""
    return CheckDocument(
        id=check.id,
        title=check.title,
        area=check.area,
        severity=check.severity,
        params=dict(check.params),
        param_types={k: spec.describe() for k, spec in check.param_specs.items()},
        why=untagged(check.why),
        sources=sources(check.why),
        references=[Reference(title=r.title, url=r.url) for r in check.sources],
        short=check.short,
        fix=filled_fix(check),
        fix_template=check.fix,
        placeholders=placeholders(check),
        runbook=check.runbook,
    )


def paragraphs(text: str) -> list[str]:
    """Prose lines joined into paragraphs for re-wrapping; indented lines (formulas, lists) kept as lines."""
    out: list[str] = []
    joining = False
    for line in text.splitlines():
        if not line.strip():
            out.append("")
            joining = False
        elif line.startswith((" ", "\t", "- ")):
            out.append(line)
            joining = False
        elif joining:
            out[-1] += " " + line.strip()
        else:
            out.append(line.strip())
            joining = True
    return out
