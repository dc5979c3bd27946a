"""Typed readers of Kubernetes object fields, shared by pods and NIM Operator resources.

Metadata, containers, GPU and MIG resource requests, env, annotations and the NIM Operator's pod labels.
Each reader names the field it read in the `RequirementError` it raises on malformed input.

Every field comes from whoever wrote the object, so every number is read with bounds: ASCII digits only
(`int()` takes other Unicode decimal digits, e.g. fullwidth ones, and `isdigit()` passes superscripts it
cannot convert), a length cap before any conversion (CPython refuses to convert more than 4,300 digits), and
a range; no reader raises anything but `RequirementError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from nimdoctor.placement import precision as precisions
from nimdoctor.placement.errors import RequirementError

ANNOTATION_PRECISION = "nimdoctor.io/precision"
GPU_RESOURCE = "nvidia.com/gpu"
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"
MAX_MODEL_LEN_ENV = "NIM_MAX_MODEL_LEN"
_MIG_PROFILE = re.compile(r"^(?:\d+c\.)?\d+g\.\d+gb(?:\+me)?$")
NIM_REGISTRY_PREFIX = "nvcr.io/nim/"
# Bounds on numbers read from an object: GPU devices, tensor and pipeline sizes (a node holds at most 64
# GPUs; 1024 leaves room for any multi-node layout) and the context in tokens (the longest published
# context is 10M). Anything longer than MAX_DIGITS is refused before it is converted.
MAX_DEVICES = 1024
MAX_CONTEXT = 2**30
MAX_DIGITS = 10
_SHOWN = 24  # characters of a bad value repeated in an error


def pod_role(pod: Mapping[str, Any]) -> str | None:
    """How the NIM Operator made this pod: `standalone`, `leader` or `worker` (multi-node), else `None`.

    Standalone pods and LWS leaders carry `app.kubernetes.io/managed-by=k8s-nim-operator` and
    `app.kubernetes.io/part-of=nim-service` (leaders also `nim-llm-role=leader`); LWS workers carry only
    the LeaderWorkerSet's labels (`leaderworkerset.sigs.k8s.io/name` ending in `-lws`) and a container
    named `nim-worker`.
    """
    metadata = pod.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    if not isinstance(labels, Mapping):
        return None
    if (
        labels.get("app.kubernetes.io/managed-by") == "k8s-nim-operator"
        and labels.get("app.kubernetes.io/part-of") == "nim-service"
    ):
        return "leader" if labels.get("nim-llm-role") == "leader" else "standalone"
    lws = labels.get("leaderworkerset.sigs.k8s.io/name")
    spec = pod.get("spec")
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    if not isinstance(containers, list):
        return None
    # A list, not a set: a container name may be any JSON value, unhashable ones included.
    names = [c.get("name") for c in containers if isinstance(c, Mapping)]
    if isinstance(lws, str) and lws.endswith("-lws") and "nim-worker" in names:
        return "worker"
    return None


def shown(value: Any) -> str:
    """A bad value for an error message: its repr, cut short (a 5,000-digit number is not repeated)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    simple = isinstance(value, str | int | float | bool) or value is None
    text = repr(value) if simple else f"a {type(value).__name__}"
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 4]}...' ({len(text) - 2} characters)"


def text_of(value: Any) -> str:
    """A scalar as text, without converting a huge integer to decimal (CPython refuses past 4,300 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"<an integer of {value.bit_length()} bits>"
    return str(value)


def object_name(metadata: Mapping[str, Any]) -> str:
    name = metadata.get("name") or metadata.get("generateName") or "<unnamed>"
    namespace = metadata.get("namespace")
    return f"{text_of(namespace)}/{text_of(name)}" if namespace else text_of(name)


def mapping(value: Any, where: str, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        label = f"{where}: {path}" if path else where
        got = "nothing" if value is None else type(value).__name__
        raise RequirementError(f"{label}: expected a mapping, got {got}")
    return value


def containers_of(
    spec: Mapping[str, Any], key: str, where: str, *, required: bool
) -> list[Mapping[str, Any]]:
    raw = spec.get(key)
    if raw is None and not required:
        return []
    if not isinstance(raw, list) or (required and not raw):
        raise RequirementError(f"{where}: spec.{key}: must be a non-empty list")
    return [mapping(c, where, f"spec.{key}[{i}]") for i, c in enumerate(raw)]


def _whole(value: Any, high: int) -> int | None:
    """An int, or a string of ASCII digits (YAML and env values are often strings), at most `high`; `None`
    for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value <= high else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not (0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number <= high else None


def positive(value: Any, where: str, path: str, high: int = MAX_DEVICES) -> int:
    """A whole number from 1 to `high`; `RequirementError` naming `path` and the range otherwise."""
    number = _whole(value, high)
    if number is None or number < 1:
        raise RequirementError(
            f"{where}: {path}: {shown(value)} is not a positive integer (ASCII digits, at most {high})"
        )
    return number


def quantity(value: Any, where: str, path: str) -> int:
    """A count of GPU devices, 0 to `MAX_DEVICES`."""
    number = _whole(value, MAX_DEVICES)
    if number is None or number < 0:
        allowed = f"ASCII digits, at most {MAX_DEVICES}"
        raise RequirementError(f"{where}: {path}: {shown(value)} is not a whole number of GPUs ({allowed})")
    return number


def resource_request(resources: Mapping[str, Any], where: str, path: str) -> tuple[int | None, str | None]:
    """(count, MIG profile) of the GPU devices requested: `nvidia.com/gpu`, or one `nvidia.com/mig-<p>`.

    From limits, else requests (extended resources: requests default to limits). `(None, None)`: none.
    """
    for part in ("limits", "requests"):
        values = resources.get(part)
        if values is None:
            continue
        values = mapping(values, where, f"{path}.{part}")
        migs = sorted(str(k) for k in values if str(k).startswith(MIG_RESOURCE_PREFIX))
        if GPU_RESOURCE in values and migs:
            raise RequirementError(
                f"{where}: {path}.{part}: requests both {GPU_RESOURCE} and {migs[0]}: a NIM runs on one kind"
            )
        if len(migs) > 1:
            several = ", ".join(migs)
            raise RequirementError(f"{where}: {path}.{part}: requests several MIG profiles: {several}")
        if GPU_RESOURCE in values:
            return quantity(values[GPU_RESOURCE], where, f"{path}.{part}[{GPU_RESOURCE}]"), None
        if migs:
            count = quantity(values[migs[0]], where, f"{path}.{part}[{migs[0]}]")
            return count, parse_mig_profile(
                migs[0].removeprefix(MIG_RESOURCE_PREFIX), where, f"{path}.{part}"
            )
    return None, None


def device_request(container: Mapping[str, Any], path: str, where: str) -> tuple[int | None, str | None]:
    resources = mapping(container.get("resources") or {}, where, f"{path}.resources")
    return resource_request(resources, where, f"{path}.resources")


def parse_mig_profile(raw: str, where: str, path: str) -> str:
    """A MIG profile name as GPU Feature Discovery writes it: `[<c>c.]<g>g.<gb>gb[+me]`."""
    text = raw.strip().lower()
    if not _MIG_PROFILE.match(text):
        raise RequirementError(f"{where}: {path}: {raw!r} is not a MIG profile (like 3g.40gb)")
    return text


def nim_container(containers: Sequence[Mapping[str, Any]], counts: Sequence[int | None]) -> int:
    """The NIM container: a GPU container with an nvcr.io/nim image, else the first GPU container.

    At least one container requests GPUs (the caller checked).
    """
    with_gpus = [i for i, count in enumerate(counts) if count]
    nim = [i for i in with_gpus if text_of(containers[i].get("image", "")).startswith(NIM_REGISTRY_PREFIX)]
    return (nim or with_gpus)[0]


def env_values(raw: Any, where: str, path: str) -> dict[str, str]:
    """Plain `name`/`value` pairs; entries taken from a Secret or ConfigMap (`valueFrom`) are left out."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise RequirementError(f"{where}: {path}: must be a list")
    env: dict[str, str] = {}
    for index, item in enumerate(raw):
        entry = mapping(item, where, f"{path}[{index}]")
        name = entry.get("name")
        if not isinstance(name, str):
            raise RequirementError(f"{where}: {path}[{index}].name: missing")
        value = entry.get("value")
        if isinstance(value, str | int) and not isinstance(value, bool):
            env[name] = text_of(value)
    return env


def int_env(env: Mapping[str, str], name: str, where: str, path: str, high: int = MAX_DEVICES) -> int | None:
    """A positive whole number from the env (at most `high`); None when unset or empty."""
    value = env.get(name, "")
    return positive(value, where, f"{path} env {name}", high) if value.strip() else None


def string_map(raw: Any, where: str, path: str) -> dict[str, str]:
    if raw is None:
        return {}
    values = mapping(raw, where, path)
    return {text_of(k): text_of(v) for k, v in values.items() if v is not None}


def parse_precision(raw: str, where: str, path: str) -> str:
    canonical = precisions.canonical(raw)
    if canonical is None:
        raise RequirementError(f"{where}: {path}: unknown precision {raw!r} (known: {precisions.known()})")
    return canonical


def annotated_precision(annotations: Mapping[str, str], where: str, path: str) -> str | None:
    raw = annotations.get(ANNOTATION_PRECISION)
    return parse_precision(raw, where, f"{path} {ANNOTATION_PRECISION}") if raw is not None else None
