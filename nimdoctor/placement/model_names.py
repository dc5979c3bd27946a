"""Model names and sizes a workload declares: image path, NIM_MODEL_PATH or NIM_MODEL_NAME, annotation."""

from __future__ import annotations

from collections.abc import Mapping

from nimdoctor.placement.errors import RequirementError
from nimdoctor.placement.models import parse_params

ANNOTATION_PARAMS = "nimdoctor.io/model-params"


def model_names(image: str, env: Mapping[str, str]) -> list[str]:
    """The image path first; a multi-LLM NIM names its model in NIM_MODEL_PATH / NIM_MODEL_NAME."""
    names = [image]
    for key in ("NIM_MODEL_PATH", "NIM_MODEL_NAME"):
        value = env.get(key, "").strip()
        if value and not value.startswith("/"):
            names.append(value)
    return names


def declared_params(annotations: Mapping[str, str], where: str, path: str) -> float | None:
    raw = annotations.get(ANNOTATION_PARAMS)
    if raw is None:
        return None
    try:
        return parse_params(raw)
    except ValueError as exc:
        raise RequirementError(f"{where}: {path} {ANNOTATION_PARAMS}: {exc}") from None
