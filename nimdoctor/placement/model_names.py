"""Model names, sizes and NIM versions a workload declares: image path and tag, NIM_MODEL_PATH or
NIM_MODEL_NAME, the size annotation."""

from __future__ import annotations

import re
from collections.abc import Mapping

from nimdoctor.placement.errors import RequirementError
from nimdoctor.placement.models import ANNOTATION_PARAMS as ANNOTATION_PARAMS  # defined beside resolve
from nimdoctor.placement.models import parse_params

# A NIM release as image tags write it: `1.14.0`, `2.0.3`, `1.14.0-pb5.5-stig-fips-x86-64`.
_NIM_VERSION = re.compile(r"^[0-9]{1,4}(?:\.[0-9]{1,6}){0,3}(?:[-+][A-Za-z0-9._-]{0,100})?$", re.ASCII)


def model_names(image: str, env: Mapping[str, str]) -> list[str]:
    """The image path first; a multi-LLM NIM names its model in NIM_MODEL_PATH / NIM_MODEL_NAME."""
    names = [image]
    for key in ("NIM_MODEL_PATH", "NIM_MODEL_NAME"):
        value = env.get(key, "").strip()
        if value and not value.startswith("/"):
            names.append(value)
    return names


def declared_params(annotations: Mapping[str, str], where: str, path: str) -> float | None:
    """The size the `nimdoctor.io/model-params` annotation declares, in billions; None without it.
    `RequirementError` naming `where` and `path` when it is not a size."""
    raw = annotations.get(ANNOTATION_PARAMS)
    if raw is None:
        return None
    try:
        return parse_params(raw)
    except ValueError as exc:
        raise RequirementError(f"{where}: {path} {ANNOTATION_PARAMS}: {exc}") from None


def image_tag(image: str) -> str | None:
    """The tag of an image reference (`nvcr.io/nim/meta/llama-3.1-8b-instruct:1.14.0` -> `1.14.0`)."""
    name = image.strip().split("@", 1)[0].rsplit("/", 1)[-1]
    _, colon, tag = name.partition(":")
    return tag if colon and tag else None


def nim_version(tag: str | None) -> str | None:
    """The NIM release a tag names; None for a tag that names none (`latest`) or no tag."""
    return tag if tag is not None and _NIM_VERSION.match(tag) else None


def requested_nim_version(raw: str, where: str, path: str) -> str:
    """A NIM release given on the command line (`--nim-version 1.14.0`); `RequirementError` otherwise."""
    text = raw.strip()
    if not _NIM_VERSION.match(text):
        raise RequirementError(f"{where}: {path}: {raw!r} is not a NIM release (like 1.14.0 or 2.0.3)")
    return text
