"""What model a name means, and how large it is: the model catalog first, then a size in the name.

A name may be a NIM image (`nvcr.io/nim/meta/llama-3.1-70b-instruct:1.3.3`), its path
(`meta/llama-3.1-70b-instruct`), a bare model name, or a Hugging Face id (`hf://meta-llama/Llama-3.1-8B`).
Names not in the catalog are sized from their text (`70b`, `1.5b`; `8x7b` is eight experts of 7B, an upper
bound because experts share their attention layers), unless the name is a near miss of a catalog name (a
letter or two apart, the same numbers): that is a question (`NearMissError`), not a guess. Anything else is
unknown: never guessed.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nimdoctor.catalog import Catalog, ModelEntry
from nimdoctor.placement.settings import PerCatalog

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
# A size token stands alone between separators: `-70b-`, `_1.5b`, `8x7b`; not `a3b` (active params) or `v1b`.
# ASCII digits only, a few of them: a 400-digit "size" is no size (and would overflow a float).
_SIZE = re.compile(r"(?<![a-z0-9.])(?:([0-9]{1,4})x)?([0-9]{1,6}(?:\.[0-9]{1,3})?)b(?![a-z0-9])")
# The largest model a size may declare, in billions: 100 T, far past any published model (about 2 T).
MAX_PARAMS_B = 100_000.0
_MAX_PARAMS_TEXT = 32
ANNOTATION_PARAMS = "nimdoctor.io/model-params"  # a workload's declared size, in billions
# A typo changes a letter or two; a different release changes a number (llama-3.1 vs llama-3.3, -v2 vs -v3).
_NEAR_MISS_EDITS = 2
_NON_DIGITS = re.compile(r"\D")


class NearMissError(ValueError):
    """A model name the catalog does not know, a letter or two from one it does (a typo, a dropped letter):
    asked about rather than sized from its name. `suggestions`: the catalog names, closest first."""

    def __init__(self, name: str, suggestions: Sequence[str]) -> None:
        self.name = name
        self.suggestions = list(suggestions)
        super().__init__(
            f"{name!r} is not in the model catalog; did you mean {either(self.suggestions)}? "
            f"(a different model: declare its size in billions, annotation {ANNOTATION_PARAMS})"
        )


@dataclass(frozen=True)
class ModelSize:
    """A model's identity and size, and where the size comes from."""

    name: str  # the catalog's name when known, else the name as given (normalised)
    params_b: float | None  # None: unknown
    source: str | None  # catalog | annotation | declared | name; None when unknown
    upper_bound: bool = False
    kind: str | None = None
    precision: str | None = None  # the precision the catalog says the weights are published in
    entry: ModelEntry | None = None  # the catalog entry the name matched (architecture, shipped profiles)


def model_key(text: str) -> str:
    """Normalise a model reference: lower case, no scheme, registry, `nim/` prefix, tag or digest."""
    key = _SCHEME.sub("", text.strip().lower()).split("@", 1)[0]
    parts = [p for p in key.split("/") if p]
    if not parts:
        return ""
    parts[-1] = parts[-1].split(":", 1)[0]
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if len(parts) > 1 and parts[0] == "nim":
        parts = parts[1:]
    return "/".join(parts)


def _base(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def _index(catalog: Catalog) -> Mapping[str, ModelEntry]:
    """Every name and alias (full and, when unambiguous, without its organisation) -> entry."""
    full: dict[str, ModelEntry] = {}
    bases: dict[str, list[ModelEntry]] = {}
    for entry in catalog.models.values():
        for spelling in (entry.name, *entry.aliases):
            key = model_key(spelling)
            full[key] = entry
            bases.setdefault(_base(key), []).append(entry)
    index = {base: found[0] for base, found in bases.items() if len({e.name for e in found}) == 1}
    index.update(full)
    return index


_indexes = PerCatalog(_index)


def lookup(name: str, catalog: Catalog) -> ModelEntry | None:
    """The catalog entry a name refers to, by full path first, then by its last path component."""
    key = model_key(name)
    index = _indexes(catalog)
    return index.get(key) or index.get(_base(key))


def suggest(name: str, catalog: Catalog, limit: int = 3) -> list[str]:
    """Catalog models whose name or alias is close to `name` (a typo, a missing suffix), closest first."""
    index = _indexes(catalog)
    key = model_key(name)
    close = difflib.get_close_matches(key, index, n=limit * 2, cutoff=0.75)
    close += difflib.get_close_matches(_base(key), index, n=limit * 2, cutoff=0.75)
    return list(dict.fromkeys(index[k].name for k in close))[:limit]


def either(names: Sequence[str]) -> str:
    """`a`, `a or b`, `a, b or c`."""
    return " or ".join(filter(None, (", ".join(names[:-1]), names[-1])))


def _edits(a: str, b: str) -> int:
    """Characters inserted, deleted or replaced to turn `a` into `b` (difflib's alignment; a swap is 2)."""
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal")


def _spellings(catalog: Catalog) -> Mapping[str, list[tuple[str, str]]]:
    """Every spelling's full key and last component -> (spelling, model name), grouped by their digits:
    a near miss keeps every digit, so only spellings with the same digits are compared."""
    found: dict[str, list[tuple[str, str]]] = {}
    for entry in catalog.models.values():
        for key in map(model_key, (entry.name, *entry.aliases)):
            for spelling in dict.fromkeys((key, _base(key))):
                found.setdefault(_NON_DIGITS.sub("", spelling), []).append((spelling, entry.name))
    return found


_spellings_by_digits = PerCatalog(_spellings)


def near_misses(name: str, catalog: Catalog) -> list[str]:
    """Catalog models `name` is most likely a misspelling of, closest first; empty for a catalog name.

    Near: at most two letters apart, by full path or by last component, with the same digits in the same
    order, so that a different release or size (`llama-3.3-70b` beside `llama-3.1-70b`) is not a near miss.
    """
    if lookup(name, catalog) is not None:
        return []
    key = model_key(name)
    spellings = _spellings_by_digits(catalog)
    found: dict[str, int] = {}
    for mine in dict.fromkeys((key, _base(key))):
        for theirs, model in spellings.get(_NON_DIGITS.sub("", mine), ()):
            if mine == theirs or abs(len(mine) - len(theirs)) > _NEAR_MISS_EDITS:
                continue
            distance = _edits(mine, theirs)
            if distance <= _NEAR_MISS_EDITS:
                found[model] = min(distance, found.get(model, distance))
    return sorted(found, key=lambda n: (found[n], n))


def parse_size(name: str) -> tuple[float, bool] | None:
    """(billions, upper bound) from a size in the model's name; `None` when there is none or several."""
    sizes = {
        (int(experts) * float(size) if experts else float(size), bool(experts))
        for experts, size in _SIZE.findall(_base(model_key(name)))
    }
    if len(sizes) != 1:
        return None
    params, upper = sizes.pop()
    return (params, upper) if 0 < params <= MAX_PARAMS_B else None


def parse_params(text: str) -> float:
    """A declared size in billions: `70`, `70b`, `46.7B`, at most `MAX_PARAMS_B`. `ValueError` with the
    reason otherwise."""
    value = text.strip().lower().removesuffix("b").strip()
    shown = repr(text) if len(text) <= _MAX_PARAMS_TEXT else f"a value of {len(text)} characters"
    try:
        if len(value) > _MAX_PARAMS_TEXT or not value.isascii():
            raise ValueError
        params = float(value)
    except ValueError:
        raise ValueError(f'{shown} is not a number of billions of parameters (like "70")') from None
    if not math.isfinite(params) or not 0 < params <= MAX_PARAMS_B:
        raise ValueError(
            f"{shown} is not a positive number of billions of parameters (at most {MAX_PARAMS_B:g})"
        )
    return params


def resolve(
    names: Sequence[str],
    catalog: Catalog,
    *,
    declared: float | None = None,
    declared_source: str = "declared",
) -> ModelSize:
    """Identify and size a model from candidate names (first is preferred) and an optional declared size.

    A declared size wins over the catalog (the user knows their fine-tune); the catalog wins over a size
    parsed from a name; a model none of these size is unknown (`params_b` None). Raises `NearMissError`
    when no size is declared, no candidate is in the catalog and one is a near miss of a catalog name.
    """
    candidates = [n for n in names if model_key(n)]
    if not candidates:
        raise ValueError("no model name given")
    entry = next((e for e in (lookup(n, catalog) for n in candidates) if e is not None), None)
    if declared is not None:
        name = entry.name if entry else model_key(candidates[0])
        kind = entry.kind if entry else None
        return ModelSize(
            name=name,
            params_b=declared,
            source=declared_source,
            kind=kind,
            precision=entry.precision if entry else None,
            entry=entry,
        )
    if entry is not None:
        return ModelSize(
            name=entry.name,
            params_b=entry.params_b,
            source="catalog",
            kind=entry.kind,
            precision=entry.precision,
            entry=entry,
        )
    for candidate in candidates:
        close = near_misses(candidate, catalog)
        if close:
            raise NearMissError(model_key(candidate), close)
    for candidate in candidates:
        parsed = parse_size(candidate)
        if parsed is not None:
            return ModelSize(
                name=model_key(candidate), params_b=parsed[0], source="name", upper_bound=parsed[1]
            )
    return ModelSize(name=model_key(candidates[0]), params_b=None, source=None)
