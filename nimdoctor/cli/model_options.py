"""`--model NAME [--precision P] [--tp N] [--pp N] [--gpus N] [--max-model-len N] [--mig PROFILE]
[--nim-version V]`.

Shared by `run` and `plan`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from nimdoctor.catalog import Catalog
from nimdoctor.cli.completion import models
from nimdoctor.cli.options import InputError, non_empty
from nimdoctor.sanitize import clean_line

if TYPE_CHECKING:
    from nimdoctor.placement import ModelRequest

_F = TypeVar("_F", bound=Callable[..., Any])
_POSITIVE = click.IntRange(min=1)


def model_options(*, required: bool) -> Callable[[_F], _F]:
    """Add the model options to a command."""

    def decorate(fn: _F) -> _F:
        for option in reversed(
            (
                click.option(
                    "--model",
                    required=required,
                    metavar="NAME",
                    callback=non_empty,
                    shell_complete=models,
                    help="A NIM model (catalog name, alias or image path, e.g. meta/llama-3.1-70b-instruct).",
                ),
                click.option(
                    "--precision",
                    metavar="P",
                    help="bf16, fp16, fp8, int4, nvfp4; default: what NIM would choose (fp8 on compute "
                    "capability 8.9+ when NVIDIA ships the model in fp8, else bf16).",
                ),
                click.option(
                    "--tp", type=_POSITIVE, help="Tensor parallel size; default: the smallest that fits."
                ),
                click.option(
                    "--pp", type=_POSITIVE, help="Pipeline parallel size (more than 1: several nodes)."
                ),
                click.option("--gpus", type=_POSITIVE, help="GPUs per pod."),
                click.option(
                    "--max-model-len",
                    type=_POSITIVE,
                    metavar="TOKENS",
                    help="Context the KV cache is sized for, as NIM_MAX_MODEL_LEN; default: the model's.",
                ),
                click.option(
                    "--mig",
                    metavar="PROFILE",
                    help="Run on one MIG device of this profile (nvidia.com/mig-PROFILE, e.g. 3g.40gb).",
                ),
                click.option(
                    "--nim-version",
                    metavar="V",
                    help="The NIM release (the image tag, e.g. 1.14.0 or 2.0.3): 1.x runs the TensorRT-LLM "
                    "engines NVIDIA ships, 2.x vLLM only; default: the newest 1.x profiles.",
                ),
            )
        ):
            fn = option(fn)
        return fn

    return decorate


def model_request(
    catalog: Catalog,
    model: str | None,
    precision: str | None,
    tp: int | None,
    pp: int | None,
    gpus: int | None,
    max_model_len: int | None = None,
    mig: str | None = None,
    nim_version: str | None = None,
) -> ModelRequest | None:
    """The validated request the options describe; None without `--model`.

    Validated here, before any probe runs, so that a bad request is an input error (exit 2).
    """
    if model is None:
        if any(v is not None for v in (precision, tp, pp, gpus, max_model_len, mig, nim_version)):
            raise click.UsageError(
                "--precision, --tp, --pp, --gpus, --max-model-len, --mig and --nim-version need --model"
            )
        return None
    # Imported only when a model is asked about: a plain `nimdoctor run` starts faster without it.
    from nimdoctor.placement import ModelRequest, RequirementError

    request = ModelRequest(
        model=model,
        precision=precision,
        tp=tp,
        pp=pp,
        gpus=gpus,
        max_model_len=max_model_len,
        mig=mig,
        nim_version=nim_version,
    )
    try:
        request.requirement(catalog, tp)
    except RequirementError as exc:
        raise InputError(str(exc)) from exc
    return request


def did_you_mean(catalog: Catalog, model: str) -> list[str]:
    """Ask before guessing: when the catalog does not know `model` (and it is no near miss, which
    `model_request` refused already), say so on stderr, with the catalog's models that resemble it and, when
    its size will be read from its name, that it was; when it knows it under another organisation, say which
    model that is. Returns the suggestions (empty for a catalog model)."""
    from nimdoctor.placement.models import either, lookup, model_key, parse_size, suggest

    entry = lookup(model, catalog)
    if entry is not None:
        if model_key(model) not in {model_key(n) for n in (entry.name, *entry.aliases)}:
            # Found by its last component under another organisation: say which model answers.
            click.echo(clean_line(f"Note: model {model!r} is read as the catalog's {entry.name}"), err=True)
        return []
    close = suggest(model, catalog)
    size = parse_size(model)
    if size is None:
        guess = "its name carries no size, so it is not sized (`nimdoctor explain NIM-FIT-001` says how)"
    else:
        bound = ", an upper bound" if size[1] else ""
        guess = f"its size ({size[0]:g}B{bound}) was read from its name"
    question = f"; did you mean {either(close)}?" if close else ""
    warning = f"Warning: model {model!r} is not in the model catalog: {guess}{question}"
    click.echo(clean_line(warning), err=True)
    return close
