"""NIM model profile names: what engine, GPU, precision and parallelism a profile was built for.

[NVIDIA] Profile names have the form `<backend>-<precision>-tp<N>-pp<M>[-lora]`; older optimized profiles also
name the GPU after the backend and end in the QoS: `tensorrt_llm-h100_nvl-fp8-tp2-pp1-throughput`. A profile
can also be given by its 64-hex id, which says nothing by itself: `parse_profile` returns `None` for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nimdoctor import gpus
from nimdoctor.placement import precision

_HEX_ID = re.compile(r"^[0-9a-f]{32,64}$")
_PARALLEL = re.compile(r"^(tp|pp)(\d+)$")
_DEVICE = re.compile(r"^([0-9a-f]{4}):10de$")
_QOS = frozenset({"throughput", "latency"})
_MEMORY_VARIANT = re.compile(r"-\d+GB$")  # `a100_80gb`: the memory size is not a different GPU


@dataclass(frozen=True)
class Profile:
    """What a profile name says; a part the name does not carry is `None`."""

    name: str
    engine: str | None
    gpu: str | None  # normalised like `gpus.product`: "H100-NVL", "H100" (family only), "L40S"
    precision: str | None  # canonical, e.g. "fp8"
    tp: int | None
    pp: int | None
    qos: str | None = None
    lora: bool = False


def _gpu(tokens: list[str], device: str | None) -> str | None:
    if tokens:
        return _MEMORY_VARIANT.sub("", gpus.product("_".join(tokens)))
    if device is not None:
        wanted = int(device, 16)
        return next((m.product for m in gpus.KNOWN if m.device_id == wanted), None)
    return None


def parse_profile(name: str) -> Profile | None:
    """Parse a profile name; `None` for a profile id (hex) or a name that carries no precision or TP."""
    text = name.strip().lower()
    if not text or _HEX_ID.match(text):
        return None
    tokens = text.split("-")
    engine: str | None = None
    gpu_tokens: list[str] = []
    found_precision: str | None = None
    parallel: dict[str, int] = {}
    qos: str | None = None
    lora = False
    device: str | None = None
    for index, token in enumerate(tokens):
        if match := _PARALLEL.match(token):
            parallel.setdefault(match.group(1), int(match.group(2)))
        elif found_precision is None and (canonical := precision.canonical(token)) is not None:
            found_precision = canonical
        elif token in _QOS:
            qos = token
        elif token == "lora" or token.startswith("lora"):
            lora = True
        elif match := _DEVICE.match(token):
            device = match.group(1)
        elif index == 0:
            engine = token
        elif found_precision is None and not parallel:
            gpu_tokens.append(token)
    if found_precision is None and not parallel:
        return None
    return Profile(
        name=name.strip(),
        engine=engine,
        gpu=_gpu(gpu_tokens, device),
        precision=found_precision,
        tp=parallel.get("tp"),
        pp=parallel.get("pp"),
        qos=qos,
        lora=lora,
    )
