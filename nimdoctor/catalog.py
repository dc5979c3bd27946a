"""Load and validate the check catalog (`checks/*.yaml`) and overlay it from `--checks-dir`.

The catalog is the single source of truth for every check's id, title, severity, thresholds, texts and
runbook anchor. It ships inside the wheel as `nimdoctor/_checks`; an editable install reads the repository's
top-level `checks/` instead. Each file declares `apiVersion` and `kind`; every kind has a validator here.

An overlay comes from an operator (a ConfigMap), so everything is checked when it is loaded, never when a
check first uses it: each parameter against its type and range (`paramTypes`, `nimdoctor.catalog_params`),
each template against the names its check provides, model sizes and names; the files are read as untrusted
input (regular files only, `MAX_FILE_BYTES` each, YAML aliases bounded). A bad overlay is one `CatalogError`
line naming the file, the entry and the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

from nimdoctor import API_VERSION, files, yamlio
from nimdoctor.catalog_params import (
    ParamError,
    ParamSpec,
    bind,
    check_template,
    check_value,
    fill,
    infer_spec,
    parse_spec,
    template_names,
)
from nimdoctor.report import Severity

CHECK_ID = re.compile(r"^NIM-[A-Z]+-[0-9]{3}$")
SHORT_MAX = 80
MAX_FILE_BYTES = 4 * files.MiB  # a ConfigMap holds at most 1 MiB
MAX_OVERLAY_FILES = 256
MAX_PARAMS_B = 100_000.0  # 100T parameters: far above any published model
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,199}", re.ASCII)


class CatalogError(Exception):
    """The catalog (built-in or overlay) is broken; nimdoctor refuses to start on it."""


class SourceLink(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A document a check's why-text rests on: its title and an https address."""

    title: str
    url: str


class CheckEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One check as written in a catalog file."""

    id: str
    title: str
    area: str
    severity: Severity
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    param_types: dict[str, str] = msgspec.field(name="paramTypes", default_factory=dict)
    placeholders: dict[str, str] = msgspec.field(default_factory=dict)
    why: str
    short: str
    fix: str
    runbook: str
    sources: list[SourceLink] = msgspec.field(default_factory=list)


class CheckOverride(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An overlay entry: only `id` is required; what is given replaces the built-in value."""

    id: str
    title: str | None = None
    severity: Severity | None = None
    params: dict[str, Any] | None = None
    why: str | None = None
    short: str | None = None
    fix: str | None = None
    runbook: str | None = None


class _Model(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Settings of the model catalog's structs: immutable, camelCase keys, unknown keys refused."""


class ModelArchitecture(_Model, frozen=True, kw_only=True):
    """What the KV-cache term of the memory model needs, from the model's `config.json`.

    `kv_layers` is the number of layers that keep a KV cache when it is fewer than `layers` (a NAS-pruned
    model whose blocks drop attention); `max_context` is the default maximum context in tokens.
    """

    layers: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    max_context: int
    kv_layers: int | None = None
    source: str
    notes: str | None = None


class ShippedProfile(_Model, frozen=True, kw_only=True):
    """Optimized profiles NVIDIA ships for one GPU (nimdoctor's product name) and precision."""

    gpu: str
    precision: str
    tp: list[int]
    pp: int = 1


class ShippedProfiles(_Model, frozen=True, kw_only=True):
    """The profiles NVIDIA ships for a model: the manifest they were read from, its NIM release, the engine.

    `engine` is `tensorrt_llm` for the GPU-specific engines NIM 1.x ships; `vllm` where NVIDIA ships a vLLM
    profile for one GPU (generic vLLM profiles, for any GPU, are not listed here).
    """

    source: str
    release: str
    engine: str
    profiles: list[ShippedProfile]


class ModelEntry(_Model, frozen=True, kw_only=True):
    """One known NIM model in a `ModelCatalog`.

    `params_b` is the total parameter count in billions (all experts of a mixture of experts), `precision`
    the precision the weights are published in when that is not bf16, `precisions` the ones NVIDIA ships
    (besides those its shipped profiles name), `source` where the count comes from. `architecture` and
    `shipped` feed the memory model and the tensor-parallel candidates (see nimdoctor.placement).
    """

    name: str
    params_b: float = msgspec.field(name="paramsB")
    kind: str
    aliases: list[str] = msgspec.field(default_factory=list)
    precision: str | None = None
    precisions: list[str] = msgspec.field(default_factory=list)
    source: str | None = None
    notes: str | None = None
    architecture: ModelArchitecture | None = None
    shipped: ShippedProfiles | None = None


_T = TypeVar("_T")
MODEL_KINDS = frozenset({"llm", "embedding", "reranker"})
# Precisions a model entry may name; nimdoctor.placement.precision maps each to bytes per parameter.
MODEL_PRECISIONS = frozenset({"fp32", "bf16", "fp16", "fp8", "int8", "int4", "nvfp4", "mxfp4"})
SHIPPED_ENGINES = frozenset({"tensorrt_llm", "vllm"})


@dataclass(frozen=True)
class Check:
    """A validated catalog entry, with overlays applied.

    `param_specs` are the parameters' types (`nimdoctor.catalog_params`), `fix_names` the placeholders the
    built-in fix uses: what an overlay's fix may use. `placeholders` says what each placeholder of the fix
    stands for, for `nimdoctor explain`: `{param}` for a catalog parameter's value, else a readable name of
    the value the check finds when it runs ("current soft limit"). `sources` are the documents the why-text
    rests on, with their addresses.
    """

    id: str
    title: str
    area: str
    severity: Severity
    params: Mapping[str, Any]
    why: str
    short: str
    fix: str
    runbook: str
    param_specs: Mapping[str, ParamSpec] = field(default_factory=dict)
    fix_names: frozenset[str] = frozenset()
    placeholders: Mapping[str, str] = field(default_factory=dict)
    sources: tuple[SourceLink, ...] = ()

    def render_fix(self, **values: Any) -> str:
        """Fill the fix template; never raises, and a placeholder without a value stays visible."""
        return fill(self.fix, values).strip()


@dataclass(frozen=True)
class Catalog:
    """All checks by id, and the model catalog by name."""

    checks: Mapping[str, Check]
    models: Mapping[str, ModelEntry] = field(default_factory=dict)

    def get(self, check_id: str) -> Check:
        """The check with this id; `KeyError` with a clear message when there is none."""
        try:
            return self.checks[check_id]
        except KeyError:
            raise KeyError(f"unknown check id {check_id!r}") from None


def builtin_dir() -> Traversable:
    """The shipped catalog: `nimdoctor/_checks` in a wheel, the repository's `checks/` in a checkout."""
    packaged = resources.files("nimdoctor") / "_checks"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "checks"


def load_catalog(overlay: Path | None = None, *, base: Traversable | None = None) -> Catalog:
    """Load the built-in catalog (or `base`), then apply the overlay directory if given."""
    checks: dict[str, Check] = {}
    models: dict[str, ModelEntry] = {}
    for name, text in _yaml_files(base or builtin_dir()):
        _load_file(name, text, checks, models, overlay=False)
    if overlay is not None:
        if not overlay.is_dir():
            raise CatalogError(f"{overlay}: --checks-dir is not a directory")
        for name, text in _yaml_files(overlay):
            _load_file(name, text, checks, models, overlay=True)
    return Catalog(checks=checks, models=models)


def _yaml_files(directory: Traversable) -> Iterable[tuple[str, str]]:
    """The YAML files of a folder in name order; an overlay's are read as untrusted (regular files only,
    at most `MAX_FILE_BYTES` each, at most `MAX_OVERLAY_FILES`)."""
    try:
        entries = sorted(
            (e for e in directory.iterdir() if e.name.endswith((".yaml", ".yml"))), key=lambda e: e.name
        )
    except OSError as exc:
        raise CatalogError(f"{directory}: cannot list: {exc.strerror or exc}") from exc
    if len(entries) > MAX_OVERLAY_FILES:
        raise CatalogError(f"{directory}: more than {MAX_OVERLAY_FILES} YAML files")
    for entry in entries:
        label = str(entry) if isinstance(entry, Path) else f"{directory.name}/{entry.name}"
        try:
            if isinstance(entry, Path):
                yield label, files.read_text_file(entry, MAX_FILE_BYTES, label)
            else:
                yield label, entry.read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"{label}: cannot read: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise CatalogError(f"{label}: cannot read: not UTF-8 (byte {exc.start})") from exc


def _load_file(
    name: str,
    text: str,
    checks: dict[str, Check],
    models: dict[str, ModelEntry],
    *,
    overlay: bool,
) -> None:
    try:
        doc = yamlio.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{name}: not valid YAML: {yamlio.error_text(exc)}") from exc
    if not isinstance(doc, dict):
        raise CatalogError(f"{name}: expected a mapping with apiVersion, kind and entries")
    if doc.get("apiVersion") != API_VERSION:
        raise CatalogError(f"{name}: apiVersion must be {API_VERSION!r}, got {_show(doc.get('apiVersion'))}")
    kind = doc.get("kind")
    if kind == "CheckCatalog":
        _expect_keys(name, doc, "checks")
        if overlay:
            _overlay_checks(name, doc["checks"], checks)
        else:
            _add_checks(name, doc["checks"], checks)
    elif kind == "ModelCatalog":
        _expect_keys(name, doc, "models")
        _add_models(name, doc["models"], models, overlay=overlay)
    else:
        raise CatalogError(f"{name}: unknown kind {_show(kind)} (expected CheckCatalog or ModelCatalog)")


def _expect_keys(name: str, doc: dict[str, Any], list_key: str) -> None:
    unknown = set(doc) - {"apiVersion", "kind", list_key}
    if unknown:
        shown = ", ".join(sorted(map(_show, unknown))[:5])
        raise CatalogError(f"{name}: unknown top-level key(s): {shown}")
    if not isinstance(doc.get(list_key), list):
        raise CatalogError(f"{name}: '{list_key}' must be a list")


def _entry_label(name: str, index: int, raw: Any, key: str = "id") -> str:
    ident = raw.get(key) if isinstance(raw, dict) else None
    return f"{name}: entry {index + 1}" + (f" ({_show(ident)[1:-1]})" if isinstance(ident, str) else "")


def _show(value: Any) -> str:
    """A value for an error line: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _convert(label: str, raw: Any, cls: type[_T]) -> _T:
    try:
        return msgspec.convert(raw, cls)
    except msgspec.ValidationError as exc:
        raise CatalogError(f"{label}: {_field_message(exc)}") from exc


def _field_message(exc: msgspec.ValidationError) -> str:
    """Turn msgspec's message into 'field X: problem' wording."""
    problem, _, where = str(exc).partition(" - at `$")
    where = where.rstrip("`").lstrip(".")
    unknown = re.match(r"Object contains unknown field `(.*)`", problem)
    if unknown:
        return f"unknown field {'.'.join(filter(None, (where, unknown.group(1))))!r}"
    missing = re.match(r"Object missing required field `(.*)`", problem)
    if missing:
        return f"missing field {'.'.join(filter(None, (where, missing.group(1))))!r}"
    if where == "severity":
        allowed = "|".join(s.value for s in Severity)
        return f"field 'severity': {problem} (allowed: {allowed})"
    return f"field {where!r}: {problem}" if where else problem


def _add_checks(name: str, raw_entries: list[Any], checks: dict[str, Check]) -> None:
    for index, raw in enumerate(raw_entries):
        label = _entry_label(name, index, raw)
        entry = _convert(label, raw, CheckEntry)
        _validate_check(label, entry.id, entry.short)
        if entry.id in checks:
            raise CatalogError(f"{label}: duplicate id {entry.id}")
        fix_names = _template(label, "fix", entry.fix, None)
        _check_placeholders(label, entry, frozenset(fix_names))
        _check_sources(label, entry.sources)
        checks[entry.id] = Check(
            id=entry.id,
            title=entry.title,
            area=entry.area,
            severity=entry.severity,
            params=dict(entry.params),
            why=entry.why.strip(),
            short=entry.short,
            fix=entry.fix,
            runbook=entry.runbook,
            param_specs=_param_specs(label, entry),
            fix_names=frozenset(fix_names),
            placeholders=dict(entry.placeholders),
            sources=tuple(entry.sources),
        )


def _check_sources(label: str, sources: list[SourceLink]) -> None:
    """Each source is a one-line title and an https address without spaces."""
    for index, source in enumerate(sources):
        where = f"{label}: field 'sources[{index}]'"
        if not source.title.strip() or "\n" in source.title or len(source.title) > 2 * SHORT_MAX:
            raise CatalogError(f"{where}.title: must be one line of at most {2 * SHORT_MAX} characters")
        if not re.fullmatch(r"https://[^\s<>\"]{4,500}", source.url):
            raise CatalogError(f"{where}.url: {_show(source.url)} is not an https address")


def _check_placeholders(label: str, entry: CheckEntry, fix_names: frozenset[str]) -> None:
    """Each description names a placeholder of the fix, in one line, referring to parameters only."""
    for name, text in entry.placeholders.items():
        where = f"{label}: field 'placeholders.{name}'"
        if name not in fix_names:
            raise CatalogError(f"{where}: the fix has no placeholder {{{name}}}")
        if "\n" in text or len(text) > SHORT_MAX:
            raise CatalogError(f"{where}: must be one line of at most {SHORT_MAX} characters")
        _template(label, f"placeholders.{name}", text, frozenset(entry.params))


def _param_specs(label: str, entry: CheckEntry) -> dict[str, ParamSpec]:
    """Each parameter's type: declared under `paramTypes`, or inferred; the built-in values must fit."""
    unknown = sorted(set(entry.param_types) - set(entry.params))
    if unknown:
        raise CatalogError(f"{label}: field 'paramTypes.{unknown[0]}': no such parameter")
    specs = {}
    for key, value in entry.params.items():
        try:
            declared = entry.param_types.get(key)
            spec = bind(parse_spec(declared) if declared is not None else infer_spec(value), value)
            check_value(spec, value)
        except ParamError as exc:
            raise CatalogError(f"{label}: field 'params.{key}': {exc}") from None
        specs[key] = spec
    return specs


def _template(label: str, key: str, text: str, allowed: frozenset[str] | None) -> list[str]:
    """The placeholders of a template field; `allowed` None accepts any plain name."""
    try:
        if allowed is not None:
            check_template(text, allowed)
        return template_names(text)
    except ParamError as exc:
        raise CatalogError(f"{label}: field {key!r}: {exc}") from None


def _validate_check(label: str, check_id: str, short: str) -> None:
    if not CHECK_ID.match(check_id):
        raise CatalogError(f"{label}: field 'id': {_show(check_id)} does not look like NIM-AREA-000")
    if "\n" in short.strip() or len(short) > SHORT_MAX:
        raise CatalogError(f"{label}: field 'short': must be one line of at most {SHORT_MAX} characters")


def _overlay_checks(name: str, raw_entries: list[Any], checks: dict[str, Check]) -> None:
    seen: set[str] = set()
    for index, raw in enumerate(raw_entries):
        label = _entry_label(name, index, raw)
        override = _convert(label, raw, CheckOverride)
        _validate_check(label, override.id, override.short or "")
        if override.id not in checks:
            raise CatalogError(f"{label}: id {override.id} is not in the built-in catalog")
        if override.id in seen:
            raise CatalogError(f"{label}: duplicate id {override.id}")
        seen.add(override.id)
        base = checks[override.id]
        params = dict(base.params)
        for key, value in (override.params or {}).items():
            params[key] = _overlay_param(label, base, key, value)
        short = override.short if override.short is not None else base.short
        _validate_check(label, override.id, short)
        if override.fix is not None:
            _template(label, "fix", override.fix, base.fix_names)
        checks[override.id] = Check(
            id=base.id,
            title=override.title or base.title,
            area=base.area,
            severity=override.severity or base.severity,
            params=params,
            why=(override.why or base.why).strip(),
            short=short,
            fix=override.fix or base.fix,
            runbook=override.runbook or base.runbook,
            param_specs=base.param_specs,
            fix_names=base.fix_names,
            placeholders=base.placeholders,
            sources=base.sources,
        )


def _overlay_param(label: str, base: Check, key: str, value: Any) -> Any:
    """The overlay's value for one parameter, checked against its type; a map adds or replaces keys."""
    if key not in base.params:
        known = ", ".join(sorted(base.params)) or "none"
        raise CatalogError(f"{label}: field 'params': unknown parameter {_show(key)} (known: {known})")
    spec = base.param_specs[key]
    current = base.params[key]
    try:
        if spec.kind == "data" and type(value) is not type(current):
            raise ParamError(f"expected {type(current).__name__}, got {_show(value)}")
        check_value(spec, value)
    except ParamError as exc:
        raise CatalogError(f"{label}: field 'params.{key}': {exc}") from None
    if spec.kind == "map":
        return {**current, **value}
    return value


def _add_models(name: str, raw_entries: list[Any], models: dict[str, ModelEntry], *, overlay: bool) -> None:
    seen: set[str] = set()
    for index, raw in enumerate(raw_entries):
        label = _entry_label(name, index, raw, key="name")
        entry = _convert(label, raw, ModelEntry)
        for key, text in (("name", entry.name), *((f"aliases[{i}]", a) for i, a in enumerate(entry.aliases))):
            if not _MODEL_NAME.fullmatch(text):
                raise CatalogError(
                    f"{label}: field {key!r}: {_show(text)} is not a model name (letters, digits and ._/:@+-)"
                )
        if entry.kind not in MODEL_KINDS:
            allowed = "|".join(sorted(MODEL_KINDS))
            raise CatalogError(f"{label}: field 'kind': {entry.kind!r} (allowed: {allowed})")
        if not (math.isfinite(entry.params_b) and 0 < entry.params_b <= MAX_PARAMS_B):
            raise CatalogError(
                f"{label}: field 'paramsB': must be a number of billions in (0, {MAX_PARAMS_B:g}], "
                f"got {_show(entry.params_b)}"
            )
        _check_model_details(label, entry)
        if entry.name in seen or (not overlay and entry.name in models):
            raise CatalogError(f"{label}: duplicate model {entry.name}")
        _check_aliases(label, entry, models)
        seen.add(entry.name)
        models[entry.name] = entry


def _check_model_details(label: str, entry: ModelEntry) -> None:
    """Precisions known, architecture and parallel sizes positive whole numbers."""
    allowed = "|".join(sorted(MODEL_PRECISIONS))
    shipped = entry.shipped.profiles if entry.shipped else []
    named = [("precision", entry.precision)] if entry.precision is not None else []
    named += [("precisions", p) for p in entry.precisions]
    named += [(f"shipped.profiles[{i}].precision", p.precision) for i, p in enumerate(shipped)]
    for field_name, precision in named:
        if precision not in MODEL_PRECISIONS:
            raise CatalogError(f"{label}: field {field_name!r}: {precision!r} (allowed: {allowed})")
    arch = entry.architecture
    if arch is not None:
        counts = {
            "layers": arch.layers,
            "attentionHeads": arch.attention_heads,
            "kvHeads": arch.kv_heads,
            "headDim": arch.head_dim,
            "maxContext": arch.max_context,
            "kvLayers": arch.kv_layers if arch.kv_layers is not None else 1,
        }
        for key, value in counts.items():
            if value < 1:
                raise CatalogError(f"{label}: field 'architecture.{key}': must be a positive whole number")
        if arch.kv_layers is not None and arch.kv_layers > arch.layers:
            raise CatalogError(f"{label}: field 'architecture.kvLayers': more than its {arch.layers} layers")
    if entry.shipped is not None and entry.shipped.engine not in SHIPPED_ENGINES:
        engines = "|".join(sorted(SHIPPED_ENGINES))
        raise CatalogError(f"{label}: field 'shipped.engine': {entry.shipped.engine!r} (allowed: {engines})")
    for index, profile in enumerate(shipped):
        if not profile.tp or min(profile.tp) < 1 or profile.pp < 1:
            raise CatalogError(
                f"{label}: field 'shipped.profiles[{index}]': tp and pp must be positive whole numbers"
            )


def _check_aliases(label: str, entry: ModelEntry, models: dict[str, ModelEntry]) -> None:
    """Names and aliases are looked up case-insensitively, so each may name one model only."""
    claimed = {
        key.lower(): other.name
        for other in models.values()
        if other.name != entry.name
        for key in (other.name, *other.aliases)
    }
    for key in (entry.name, *entry.aliases):
        owner = claimed.get(key.lower())
        if owner is not None:
            raise CatalogError(f"{label}: field 'aliases': {key!r} already names model {owner}")
