"""Requirements from a model name (`nimdoctor run --model`): precision, parallelism, memory, files, cache."""

from __future__ import annotations

import math

import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.placement import RequirementError, cache_pvc_bytes, requirement_from_model

LLAMA_8B = "meta/llama-3.1-8b-instruct"
LLAMA_70B = "meta/llama-3.1-70b-instruct"
USABLE_FRACTION = 0.9  # NIM-FIT-001 usableFraction
OVERHEAD_GIB = 4.5  # NIM-FIT-001 runtimeOverheadGiBByTp at TP 4


def test_defaults_bf16_tp1_one_node(catalog: Catalog) -> None:
    requirement = requirement_from_model(LLAMA_8B, catalog)
    assert requirement.model == LLAMA_8B
    assert (requirement.params_b, requirement.params_source, requirement.kind) == (8.03, "catalog", "llm")
    assert (requirement.precision, requirement.bytes_per_param) == ("bf16", 2)
    assert (requirement.tensor_parallel, requirement.pipeline_parallel, requirement.gpus) == (1, 1, 1)
    assert requirement.single_node
    assert requirement.nvlink == "none"
    assert requirement.source == "name"


def test_weights_per_gpu_are_params_times_bytes_over_tp_in_decimal_bytes(catalog: Catalog) -> None:
    requirement = requirement_from_model(LLAMA_70B, catalog, tp=4)
    # NVIDIA's worked example: 70B BF16 at TP4 is about 35 GB per GPU.
    assert requirement.weights_per_gpu_bytes == 35_300_000_000
    assert requirement.nvlink == "advised"


def test_the_need_is_weights_kv_cache_and_overhead_within_the_usable_fraction(catalog: Catalog) -> None:
    requirement = requirement_from_model(LLAMA_70B, catalog, tp=4)
    # 80 layers x 8 KV heads x 128 x 2 (K and V) x 2 bytes = 320 KiB per token; 131072 tokens = 40 GiB.
    assert requirement.kv_bytes_per_token == 320 * 1024
    assert (requirement.max_context, requirement.context_source) == (131072, "catalog")
    assert requirement.kv_cache_per_gpu_bytes == 10 * 2**30
    assert requirement.overhead_per_gpu_bytes == round(OVERHEAD_GIB * 2**30)
    need = 35_300_000_000 + 10 * 2**30 + round(OVERHEAD_GIB * 2**30)
    assert requirement.gpu_memory_need_bytes == need
    assert requirement.min_gpu_memory_bytes == math.ceil(need / USABLE_FRACTION)


def test_max_model_len_replaces_the_default_context(catalog: Catalog) -> None:
    requirement = requirement_from_model(LLAMA_70B, catalog, tp=4, max_model_len=8192)
    assert (requirement.max_context, requirement.context_source) == (8192, "--max-model-len")
    assert requirement.kv_cache_per_gpu_bytes == 320 * 1024 * 8192 // 4


def test_embedding_models_keep_no_kv_cache(catalog: Catalog) -> None:
    requirement = requirement_from_model("nvidia/llama-3.2-nv-embedqa-1b-v2", catalog)
    assert (requirement.kv_bytes_per_token, requirement.kv_cache_per_gpu_bytes) == (0, 0)
    assert requirement.max_context is None


def test_a_model_without_an_architecture_is_sized_on_weights_with_a_caution(catalog: Catalog) -> None:
    requirement = requirement_from_model("acme/llama-3.1-70b-custom", catalog, tp=4)
    assert requirement.kv_bytes_per_token is None
    assert requirement.kv_cache_per_gpu_bytes == 0


def test_the_catalog_s_published_precision_is_the_default(catalog: Catalog) -> None:
    r1 = requirement_from_model("deepseek-ai/deepseek-r1", catalog, tp=8)
    assert (r1.precision, r1.bytes_per_param) == ("fp8", 1)
    assert requirement_from_model("deepseek-ai/deepseek-r1", catalog, precision="bf16").precision == "bf16"


@pytest.mark.parametrize(("spelling", "canonical"), [("BF16", "bf16"), ("bfloat16", "bf16"), ("FP8", "fp8")])
def test_precision_spellings(catalog: Catalog, spelling: str, canonical: str) -> None:
    assert requirement_from_model(LLAMA_8B, catalog, precision=spelling).precision == canonical


def test_an_unknown_precision_lists_the_known_ones(catalog: Catalog) -> None:
    with pytest.raises(
        RequirementError, match=r"model 'meta/llama-3.1-8b-instruct': precision: unknown .*'fp7'.*bf16"
    ):
        requirement_from_model(LLAMA_8B, catalog, precision="fp7")


def test_a_profile_sets_precision_tp_and_gpu(catalog: Catalog) -> None:
    requirement = requirement_from_model(
        LLAMA_70B, catalog, profile="tensorrt_llm-h100_nvl-fp8-tp2-pp1-throughput"
    )
    assert (requirement.precision, requirement.tensor_parallel, requirement.gpus) == ("fp8", 2, 2)
    assert requirement.profile_gpu == "H100-NVL"
    assert requirement.profile == "tensorrt_llm-h100_nvl-fp8-tp2-pp1-throughput"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"precision": "bf16"}, "precision says bf16 but profile .* says precision fp8"),
        ({"tp": 4}, "tp says 4 but profile .* says tp 2"),
    ],
)
def test_a_request_that_contradicts_its_profile_is_refused(
    catalog: Catalog, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(RequirementError, match=message):
        requirement_from_model(
            LLAMA_70B,
            catalog,
            profile="tensorrt_llm-h100_nvl-fp8-tp2-pp1-throughput",
            **overrides,  # type: ignore[arg-type]
        )


def test_gpus_without_tp_sets_tp(catalog: Catalog) -> None:
    requirement = requirement_from_model(LLAMA_70B, catalog, gpus=4)
    assert (requirement.tensor_parallel, requirement.gpus) == (4, 4)


def test_pipeline_stages_of_a_model_name_are_nodes(catalog: Catalog) -> None:
    requirement = requirement_from_model("meta/llama-3.1-405b-instruct", catalog, tp=8, pp=2)
    assert not requirement.single_node
    assert (requirement.tensor_parallel, requirement.pipeline_parallel, requirement.gpus) == (8, 2, 8)
    assert requirement.weights_per_gpu_bytes == math.ceil(405.9e9 * 2 / 16)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tp": 0}, "tp: 0 is not a positive integer"),
        ({"pp": -1}, "pp: -1 is not a positive integer"),
        ({"gpus": 1, "tp": 2}, "requests 1 nvidia.com/gpu but tensor 2 x pipeline 1 needs 2"),
        ({"params_b": -3.0}, "params: -3.0 is not a positive number"),
    ],
)
def test_bad_numbers_are_refused_with_the_reason(
    catalog: Catalog, kwargs: dict[str, int], message: str
) -> None:
    with pytest.raises(RequirementError, match=message):
        requirement_from_model(LLAMA_70B, catalog, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("params_b", "min_nofile"), [(8.03, None), (48.9, None), (49.0, 65536), (49.9, 65536), (671.0, 65536)]
)
def test_open_files_are_required_from_49b(catalog: Catalog, params_b: float, min_nofile: int | None) -> None:
    assert requirement_from_model("acme/x", catalog, params_b=params_b).min_nofile == min_nofile


def test_an_unknown_model_has_no_size_and_no_derived_needs(catalog: Catalog) -> None:
    requirement = requirement_from_model("acme/house-model", catalog)
    assert requirement.params_b is None
    assert requirement.weights_per_gpu_bytes is None
    assert requirement.min_gpu_memory_bytes is None
    assert requirement.min_nofile is None
    assert requirement.cache_pvc_bytes is None


def test_a_mixture_of_experts_name_outside_the_catalog_is_an_upper_bound(catalog: Catalog) -> None:
    requirement = requirement_from_model("acme/mixtral-8x7b-tuned", catalog)
    assert (requirement.params_b, requirement.params_source, requirement.params_upper_bound) == (
        56.0,
        "name",
        True,
    )


@pytest.mark.parametrize(
    ("params_b", "gigabytes"),
    [
        (1.24, 50),  # seed: up to 8B, about 50 GB
        (8.03, 50),  # seed 50 GB beats 4 x 8.03 = 32.1 GB
        (13.0, 120),  # seed 13-34B: up to 120 GB beats 52 GB
        (70.6, 282.4),  # NVIDIA's 4 x params beats the seed's 150 GB
        (405.9, 1623.6),
    ],
)
def test_cache_pvc_is_the_larger_of_the_seed_table_and_four_times_params(
    params_b: float, gigabytes: float
) -> None:
    assert cache_pvc_bytes(params_b) == math.ceil(gigabytes * 1e9)


def test_requirements_are_hashable_values(catalog: Catalog) -> None:
    one = requirement_from_model(LLAMA_70B, catalog, tp=2)
    two = requirement_from_model(LLAMA_70B, catalog, tp=2)
    assert one == two
    assert hash(one) == hash(two)
    assert len({one, two, requirement_from_model(LLAMA_70B, catalog, tp=4)}) == 2
