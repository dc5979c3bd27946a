"""The memory model against NVIDIA's own per-GPU figures: NIM 2.0.3's `min_vram_per_device_gb`.

Source: the NIM 2.0.3 model manifests (generic vLLM profiles, tag min_vram_per_device_gb, GiB although
labelled GB) of meta/llama-3.3-70b-instruct and nvidia/llama-3.3-nemotron-super-49b-v1.5, as copied in
cloudera/Model-Hub@c0df109:manifests/1.14.0/nim/meta/llama-3.3-70b-instruct.yaml and
cloudera/Model-Hub@ea09d50:manifests/1.14.0/nim/nvidia/llama-3.3-nemotron-super-49b-v1.5.yaml.
The overhead by TP (NIM-FIT-001 runtimeOverheadGiBByTp) was calibrated on these figures: for bf16 the
model's need (weights + KV cache of the default context + overhead, per GPU) is at most 1 GiB above
NVIDIA's and never below; fp8 checkpoints keep embeddings and the LM head in bf16, which the model does not
count separately, so at TP 1 it is up to 2.25 GiB below (docs/placement.md, calibration table).
"""

from __future__ import annotations

import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.placement import requirement_from_model

GIB = 2**30
L33, N49V15 = "meta/llama-3.3-70b-instruct", "nvidia/llama-3.3-nemotron-super-49b-v1.5"
MIN_VRAM_GIB = {
    (L33, "bf16"): (174, 89, 47, 25),
    (L33, "fp8"): (111, 57, 31, 18),
    (N49V15, "bf16"): (120, 62, 33, 19),
    (N49V15, "fp8"): (76, 40, 22, 13),
}
CASES = [
    (model, precision, tp, figure)
    for (model, precision), figures in MIN_VRAM_GIB.items()
    for tp, figure in zip((1, 2, 4, 8), figures, strict=True)
]


@pytest.mark.parametrize(("model", "precision", "tp", "figure"), CASES)
def test_the_need_per_gpu_follows_nvidias_min_vram_per_device(
    catalog: Catalog, model: str, precision: str, tp: int, figure: int
) -> None:
    need = (
        requirement_from_model(model, catalog, precision=precision, tp=tp).gpu_memory_need_bytes or 0
    ) / GIB
    low, high = (0.0, 1.0) if precision == "bf16" else (-2.25, 1.0)
    assert low <= need - figure <= high, f"{need:.2f} GiB against NVIDIA's {figure}"
