"""A near miss of a catalog model (a typo, a dropped letter) is a question, not a guess: no size is read
from its name; a different release or size of a catalog model, or a name far from any, is still sized from
its name."""

from __future__ import annotations

import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.placement import (
    ANNOTATION_PARAMS,
    RequirementError,
    requirement_from_model,
    requirement_from_pod,
)
from nimdoctor.placement.models import NearMissError, near_misses, resolve
from tests.placement.pods import nim_pod


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("meta/llama-3.1-70b-instruc", "meta/llama-3.1-70b-instruct"),  # one letter short
        ("meta/llama-3.1-70b-insturct", "meta/llama-3.1-70b-instruct"),  # two letters swapped
        ("nvcr.io/nim/meta/llama3.1-8b-instruct:1.3.3", "meta/llama-3.1-8b-instruct"),  # a dropped dash
        ("hf://meta-llama/Llama-3.1-8B-Instrct", "meta/llama-3.1-8b-instruct"),  # a typo of an alias
        ("acme/mistral-7b-instruct-v03", "mistralai/mistral-7b-instruct-v0.3"),  # by its last component
    ],
)
def test_a_letter_or_two_from_a_catalog_name_is_a_near_miss(catalog: Catalog, name: str, meant: str) -> None:
    assert near_misses(name, catalog)[0] == meant
    with pytest.raises(NearMissError) as raised:
        resolve([name], catalog)
    assert raised.value.suggestions[0] == meant
    assert f"did you mean {meant}" in str(raised.value)


@pytest.mark.parametrize(
    "name",
    [
        "meta/llama-3.1-70b-instruct",  # the catalog's own name
        "meta/llama-3.2-70b-instruct",  # another release: the numbers differ
        "meta/llama-3.1-7b-instruct",  # another size
        "mistralai/mistral-7b-instruct-v0.2",  # another version
        "acme/llama-3.1-70b-custom",  # a fine-tune's own name
        "acme/house-model",
    ],
)
def test_another_release_size_or_name_is_no_near_miss(catalog: Catalog, name: str) -> None:
    assert near_misses(name, catalog) == []


def test_a_name_with_no_close_match_and_a_size_in_it_is_still_sized_from_its_name(catalog: Catalog) -> None:
    size = resolve(["meta/llama-3.2-70b-instruct"], catalog)
    assert (size.params_b, size.source) == (70.0, "name")


def test_a_declared_size_answers_the_question(catalog: Catalog) -> None:
    size = resolve(["acme/llama-3.1-70b-instruc"], catalog, declared=70.6, declared_source="annotation")
    assert (size.params_b, size.source) == (70.6, "annotation")


def test_a_known_candidate_wins_over_a_near_miss_of_another(catalog: Catalog) -> None:
    size = resolve(["nvcr.io/nim/nvidia/llm-nim:1.12", "meta/llama-3.1-8b-instruct"], catalog)
    assert size.source == "catalog"


def test_a_model_request_with_a_near_miss_is_an_input_error(catalog: Catalog) -> None:
    with pytest.raises(RequirementError, match=r"did you mean meta/llama-3\.1-70b-instruct\?"):
        requirement_from_model("meta/llama-3.1-70b-instruc", catalog)


def test_a_pod_with_a_near_miss_image_is_refused_naming_the_suggestion_and_the_annotation(
    catalog: Catalog,
) -> None:
    with pytest.raises(RequirementError) as raised:
        requirement_from_pod(nim_pod("meta/llama-3.1-70b-instruc", gpus=4), catalog)
    message = str(raised.value)
    assert message.startswith("pod ")
    assert "did you mean meta/llama-3.1-70b-instruct?" in message
    assert ANNOTATION_PARAMS in message
    declared = nim_pod("meta/llama-3.1-70b-instruc", gpus=4, annotations={ANNOTATION_PARAMS: "70"})
    assert requirement_from_pod(declared, catalog).params_b == 70
