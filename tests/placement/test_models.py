"""The model catalog, model lookup and size parsing: a model is identified or reported unknown."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nimdoctor.catalog import MODEL_PRECISIONS, Catalog, CatalogError, builtin_dir, load_catalog
from nimdoctor.placement.models import lookup, model_key, parse_params, parse_size, resolve
from nimdoctor.placement.precision import BYTES_PER_PARAM, canonical


def test_every_catalog_model_says_where_its_size_comes_from(catalog: Catalog) -> None:
    assert len(catalog.models) >= 15
    for entry in catalog.models.values():
        assert entry.source, entry.name
        assert entry.params_b > 0


@pytest.mark.parametrize(
    ("name", "params_b", "kind"),
    [
        ("meta/llama-3.1-8b-instruct", 8.03, "llm"),
        ("meta/llama-3.1-70b-instruct", 70.6, "llm"),
        ("meta/llama-3.1-405b-instruct", 405.9, "llm"),
        ("meta/llama-3.3-70b-instruct", 70.6, "llm"),
        ("nvidia/llama-3.3-nemotron-super-49b-v1", 49.9, "llm"),
        ("nvidia/llama-3.3-nemotron-super-49b-v1.5", 49.9, "llm"),
        ("nvidia/llama-3.1-nemotron-70b-instruct", 70.6, "llm"),
        ("mistralai/mixtral-8x7b-instruct-v01", 46.7, "llm"),
        ("mistralai/mixtral-8x22b-instruct-v01", 141, "llm"),
        ("deepseek-ai/deepseek-r1", 671, "llm"),
        ("mistralai/mistral-7b-instruct-v0.3", 7.25, "llm"),
        ("nvidia/nv-embed-v2", 7.85, "embedding"),
        ("nvidia/llama-3.2-nv-embedqa-1b-v2", 1.24, "embedding"),
        ("nvidia/llama-3.2-nv-rerankqa-1b-v2", 1.24, "reranker"),
    ],
)
def test_the_issue_s_models_are_in_the_catalog_with_total_parameters(
    catalog: Catalog, name: str, params_b: float, kind: str
) -> None:
    entry = lookup(name, catalog)
    assert entry is not None
    assert (entry.params_b, entry.kind) == (params_b, kind)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("nvcr.io/nim/meta/llama-3.1-70b-instruct:1.3.3", "meta/llama-3.1-70b-instruct"),
        (
            "registry.example.com:5000/nim/meta/llama-3.1-70b-instruct@sha256:abc",
            "meta/llama-3.1-70b-instruct",
        ),
        ("hf://meta-llama/Llama-3.1-8B-Instruct", "meta-llama/llama-3.1-8b-instruct"),
        ("  Meta/Llama-3.1-8B-Instruct  ", "meta/llama-3.1-8b-instruct"),
        ("llama-3.1-8b-instruct:latest", "llama-3.1-8b-instruct"),
    ],
)
def test_model_references_are_normalised(reference: str, expected: str) -> None:
    assert model_key(reference) == expected


@pytest.mark.parametrize(
    ("reference", "name"),
    [
        ("nvcr.io/nim/meta/llama-3.1-70b-instruct:1.3.3", "meta/llama-3.1-70b-instruct"),
        ("hf://meta-llama/Meta-Llama-3.1-8B-Instruct", "meta/llama-3.1-8b-instruct"),
        ("NVIDIA/Llama-3_3-Nemotron-Super-49B-v1", "nvidia/llama-3.3-nemotron-super-49b-v1"),
        ("llama-3.1-405b-instruct", "meta/llama-3.1-405b-instruct"),  # without its organisation
        ("deepseek-ai/DeepSeek-R1", "deepseek-ai/deepseek-r1"),
    ],
)
def test_lookup_by_image_alias_and_bare_name(catalog: Catalog, reference: str, name: str) -> None:
    entry = lookup(reference, catalog)
    assert entry is not None
    assert entry.name == name


def test_the_samples_models_are_known(catalog: Catalog) -> None:
    for image in (
        "nvcr.io/nim/meta/llama-3.2-1b-instruct:1.12.0",
        "nvcr.io/nim/meta/llama-3.1-8b-instruct",
        "nvcr.io/nim/nvidia/llama-3.2-nv-embedqa-1b-v2",
        "nvcr.io/nim/nvidia/llama-3.2-nv-rerankqa-1b-v2",
        "nvcr.io/nim/deepseek-ai/deepseek-r1:1.7.3",
    ):
        assert lookup(image, catalog) is not None, image


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("acme/llama-3.1-70b-custom", (70.0, False)),
        ("acme/qwen2.5-1.5b-instruct", (1.5, False)),
        ("acme/nemotron-4-340b-instruct", (340.0, False)),
        ("acme/qwen3-30b-a3b", (30.0, False)),  # a3b is the active count, not the size
        ("nvcr.io/nim/acme/mixtral-8x7b-finetune:2.0", (56.0, True)),  # 8 x 7B: an upper bound
        ("acme/Model-13B", (13.0, False)),
    ],
)
def test_sizes_are_parsed_from_names(name: str, expected: tuple[float, bool]) -> None:
    assert parse_size(name) == expected


@pytest.mark.parametrize(
    "name", ["acme/house-model", "acme/deepseek-r1-fork", "acme/merge-7b-13b", "acme/v1b"]
)
def test_no_size_or_an_ambiguous_one_is_not_guessed(name: str) -> None:
    assert parse_size(name) is None


def test_the_catalog_wins_over_the_name_and_a_declared_size_over_both(catalog: Catalog) -> None:
    mixtral = resolve(["nvcr.io/nim/mistralai/mixtral-8x7b-instruct-v01:1.0"], catalog)
    assert (mixtral.params_b, mixtral.source, mixtral.upper_bound) == (46.7, "catalog", False)
    declared = resolve(["meta/llama-3.1-8b-instruct"], catalog, declared=8.5, declared_source="annotation")
    assert (declared.name, declared.params_b, declared.source) == (
        "meta/llama-3.1-8b-instruct",
        8.5,
        "annotation",
    )
    unknown = resolve(["nvcr.io/nim/acme/house-model:1"], catalog)
    assert (unknown.name, unknown.params_b, unknown.source) == ("acme/house-model", None, None)


def test_the_first_known_candidate_names_the_model(catalog: Catalog) -> None:
    size = resolve(["nvcr.io/nim/nvidia/llm-nim:1.12", "hf://meta-llama/Llama-3.1-8B-Instruct"], catalog)
    assert (size.name, size.params_b) == ("meta/llama-3.1-8b-instruct", 8.03)


@pytest.mark.parametrize(
    ("text", "value"), [("70", 70.0), ("70b", 70.0), (" 46.7B ", 46.7), ("0.335", 0.335)]
)
def test_declared_sizes_parse(text: str, value: float) -> None:
    assert parse_params(text) == value


@pytest.mark.parametrize("text", ["seventy", "", "0", "-8", "nan", "inf", "8x7b"])
def test_bad_declared_sizes_say_what_is_wrong(text: str) -> None:
    with pytest.raises(ValueError, match="billions of parameters"):
        parse_params(text)


def test_precision_table_matches_the_catalog_s_precisions() -> None:
    assert set(BYTES_PER_PARAM) == MODEL_PRECISIONS
    assert (BYTES_PER_PARAM["bf16"], BYTES_PER_PARAM["fp8"], BYTES_PER_PARAM["nvfp4"]) == (2, 1, 0.5)
    assert canonical("BFloat16") == "bf16"
    assert canonical("int4_awq") == "int4"
    assert canonical("fp7") is None


def _catalog_with(tmp_path: Path, models: str) -> Path:
    base = tmp_path / "base"
    base.mkdir()
    for source in Path(str(builtin_dir())).glob("*.yaml"):
        if source.name != "models.yaml":
            (base / source.name).write_text(source.read_text())
    header = "apiVersion: nimdoctor.io/v1alpha1\nkind: ModelCatalog\nmodels:\n"
    (base / "models.yaml").write_text(header + textwrap.dedent(models))
    return base


def test_a_model_entry_with_an_unknown_precision_is_refused(tmp_path: Path) -> None:
    base = _catalog_with(tmp_path, "  - {name: a/m-1b, paramsB: 1, kind: llm, precision: fp7}\n")
    with pytest.raises(CatalogError, match=r"models.yaml: entry 1 \(a/m-1b\): field 'precision': 'fp7'"):
        load_catalog(base=base)


def test_an_alias_may_name_one_model_only_whatever_its_case(tmp_path: Path) -> None:
    base = _catalog_with(
        tmp_path,
        """\
        - {name: a/one, paramsB: 1, kind: llm, aliases: [hf/One]}
        - {name: a/two, paramsB: 2, kind: llm, aliases: [HF/one]}
        """,
    )
    with pytest.raises(
        CatalogError, match=r"entry 2 \(a/two\): field 'aliases': 'HF/one' already names model a/one"
    ):
        load_catalog(base=base)


def test_an_overlay_may_redefine_a_model_with_its_own_aliases(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "models.yaml").write_text(
        "apiVersion: nimdoctor.io/v1alpha1\nkind: ModelCatalog\nmodels:\n"
        "  - name: meta/llama-3.1-8b-instruct\n    paramsB: 8.03\n    kind: llm\n"
        "    aliases: [meta-llama/Llama-3.1-8B-Instruct, our/llama-8b]\n"
    )
    catalog = load_catalog(overlay)
    entry = lookup("our/llama-8b", catalog)
    assert entry is not None
    assert entry.name == "meta/llama-3.1-8b-instruct"


def test_every_llm_has_a_sourced_architecture_and_every_shipped_list_a_source(catalog: Catalog) -> None:
    for entry in catalog.models.values():
        if entry.kind == "llm":
            assert entry.architecture is not None, entry.name
            assert entry.architecture.source, entry.name
            assert entry.architecture.max_context >= 32768, entry.name
        if entry.shipped is not None:
            assert "manifest" in entry.shipped.source, entry.name
            assert entry.shipped.profiles, entry.name


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            "architecture: {layers: 0, attentionHeads: 8, kvHeads: 8, headDim: 64, maxContext: 8, source: x}",
            "architecture.layers': must be a positive whole number",
        ),
        (
            "architecture: {layers: 2, kvLayers: 3, attentionHeads: 8, kvHeads: 8, headDim: 64, "
            "maxContext: 8, source: x}",
            "architecture.kvLayers': more than its 2 layers",
        ),
        (
            "shipped: {source: x, release: '1.14.0', engine: tensorrt_llm, "
            "profiles: [{gpu: L40S, precision: fp7, tp: [1]}]}",
            "fp7",
        ),
        (
            "shipped: {source: x, release: '1.14.0', engine: tensorrt_llm, "
            "profiles: [{gpu: L40S, precision: fp8, tp: []}]}",
            "tp and pp must be positive",
        ),
        (
            "shipped: {source: x, release: '1.14.0', engine: sglang, "
            "profiles: [{gpu: L40S, precision: fp8, tp: [1]}]}",
            "field 'shipped.engine': 'sglang'",
        ),
        ("shipped: {source: x, engine: vllm, profiles: []}", "missing field 'shipped.release'"),
        ("precisions: [fp9]", "field 'precisions': 'fp9'"),
    ],
)
def test_a_model_entry_s_architecture_and_profiles_are_validated(
    tmp_path: Path, fields: str, message: str
) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "models.yaml").write_text(
        "apiVersion: nimdoctor.io/v1alpha1\nkind: ModelCatalog\nmodels:\n"
        f"  - {{name: acme/x, paramsB: 1, kind: llm, {fields}}}\n"
    )
    with pytest.raises(CatalogError, match=message):
        load_catalog(overlay)
