"""Requirements from NIM Operator manifests: the operator's own samples (copied unchanged) and variants."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from nimdoctor.catalog import Catalog
from nimdoctor.placement import (
    RequirementError,
    fit,
    requirement_from_manifest,
    requirements_from_manifest,
)
from tests.placement import nodes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BASIC = "k8s-nim-operator__serving__standalone__basic__llm.yaml"
MULTI_NODE = "k8s-nim-operator__serving__advanced__multi-node__multi-node-nimservice.yaml"
NGC_CACHE = "k8s-nim-operator__caching__ngc__nimcache.yaml"
RAG = "k8s-nim-operator__pipelines__rag__rag-pipeline.yaml"
NO_PRECACHING = "k8s-nim-operator__serving__standalone__no-precaching__llm.yaml"


def sample(name: str, kind: str) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all((FIXTURES / name).read_text()) if d and d.get("kind") == kind]
    assert len(docs) == 1
    doc: dict[str, Any] = docs[0]
    return doc


def test_basic_sample_nimservice(catalog: Catalog) -> None:
    requirement = requirement_from_manifest(sample(BASIC, "NIMService"), catalog)
    assert requirement.model == "meta/llama-3.2-1b-instruct"
    assert (requirement.params_b, requirement.precision) == (1.24, "bf16")
    assert (requirement.tensor_parallel, requirement.gpus, requirement.single_node) == (1, 1, True)
    assert requirement.profile is None  # `profile: ''` in the sample
    assert requirement.source == "NIMService"
    assert fit(nodes.L40S_4X, requirement, catalog).fits


def test_basic_sample_nimcache(catalog: Catalog) -> None:
    requirement = requirement_from_manifest(sample(BASIC, "NIMCache"), catalog)
    assert (requirement.model, requirement.tensor_parallel, requirement.source) == (
        "meta/llama-3.2-1b-instruct",
        1,
        "NIMCache",
    )
    assert requirement.cache_pvc_bytes == 50_000_000_000


def test_ngc_caching_sample_with_engine_tensorrt(catalog: Catalog) -> None:
    requirement = requirement_from_manifest(sample(NGC_CACHE, "NIMCache"), catalog)
    assert (requirement.model, requirement.tensor_parallel) == ("meta/llama-3.2-1b-instruct", 1)


def test_no_precaching_sample(catalog: Catalog) -> None:
    requirement = requirement_from_manifest(sample(NO_PRECACHING, "NIMService"), catalog)
    assert (requirement.model, requirement.gpus) == ("meta/llama-3.2-1b-instruct", 1)


def test_multi_node_sample_is_tensor_8_per_pod_over_2_nodes(catalog: Catalog) -> None:
    requirement = requirement_from_manifest(sample(MULTI_NODE, "NIMService"), catalog)
    assert requirement.model == "deepseek-ai/deepseek-r1"
    assert (requirement.params_b, requirement.precision) == (671, "fp8")
    assert (requirement.tensor_parallel, requirement.pipeline_parallel, requirement.gpus) == (8, 2, 8)
    assert not requirement.single_node
    assert requirement.min_nofile == 65536
    assert fit(nodes.DGX_H100, requirement, catalog).reasons == ()
    on_containerd2 = fit(nodes.DGX_H100_CONTAINERD2, requirement, catalog)
    assert [r.id for r in on_containerd2.reasons] == ["NIM-FIT-005"]


def test_multi_node_sample_cache_with_a_null_model(catalog: Catalog) -> None:
    requirement = requirement_from_manifest(sample(MULTI_NODE, "NIMCache"), catalog)
    assert (requirement.model, requirement.precision) == ("deepseek-ai/deepseek-r1", "fp8")
    # The sample's 100Gi PVC is far below what 671B needs.
    assert requirement.cache_pvc_bytes == 2_684_000_000_000


def test_rag_pipeline_gives_one_requirement_per_service(catalog: Catalog) -> None:
    requirements = requirements_from_manifest(sample(RAG, "NIMPipeline"), catalog)
    assert [(r.model, r.kind, r.gpus) for r in requirements] == [
        ("meta/llama-3.1-8b-instruct", "llm", 1),
        ("nvidia/llama-3.2-nv-embedqa-1b-v2", "embedding", 1),
        ("nvidia/llama-3.2-nv-rerankqa-1b-v2", "reranker", 1),
    ]


def test_a_disabled_pipeline_service_is_skipped(catalog: Catalog) -> None:
    doc = copy.deepcopy(sample(RAG, "NIMPipeline"))
    doc["spec"]["services"][1]["enabled"] = False
    assert len(requirements_from_manifest(doc, catalog)) == 2


def _nimservice(**spec: Any) -> dict[str, Any]:
    doc = copy.deepcopy(sample(BASIC, "NIMService"))
    doc["spec"].update(spec)
    return doc


def test_a_nimservice_profile_without_resources_gets_the_profile_s_gpus(catalog: Catalog) -> None:
    doc = _nimservice(
        storage={"nimCache": {"name": "c", "profile": "tensorrt_llm-h100-fp8-tp2-pp1-throughput"}}
    )
    del doc["spec"]["resources"]
    requirement = requirement_from_manifest(doc, catalog)
    assert (requirement.gpus, requirement.tensor_parallel, requirement.profile_gpu) == (2, 2, "H100")


def test_annotations_on_the_nimservice_declare_the_size(catalog: Catalog) -> None:
    doc = _nimservice(
        image={"repository": "nvcr.io/nim/acme/house-model", "tag": "1"},
        annotations={"nimdoctor.io/model-params": "13"},
    )
    requirement = requirement_from_manifest(doc, catalog)
    assert (requirement.model, requirement.params_b) == ("acme/house-model", 13.0)


def test_a_nimcache_gpu_filter_is_the_profile_gpu(catalog: Catalog) -> None:
    doc = copy.deepcopy(sample(BASIC, "NIMCache"))
    doc["spec"]["source"]["ngc"]["model"]["gpus"] = [{"product": "h100", "ids": ["2330"]}]
    doc["spec"]["source"]["ngc"]["model"]["precision"] = "fp8"
    requirement = requirement_from_manifest(doc, catalog)
    assert (requirement.profile_gpu, requirement.precision) == ("H100", "fp8")
    assert [r.id for r in fit(nodes.L40S_4X, requirement, catalog).reasons] == ["NIM-FIT-007"]


def test_an_hf_nimcache_names_namespace_and_model(catalog: Catalog) -> None:
    doc = {
        "kind": "NIMCache",
        "metadata": {"name": "hf"},
        "spec": {
            "source": {
                "hf": {
                    "endpoint": "https://huggingface.co",
                    "namespace": "meta-llama",
                    "modelName": "Llama-3.3-70B-Instruct",
                }
            }
        },
    }
    assert requirement_from_manifest(doc, catalog).model == "meta/llama-3.3-70b-instruct"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"kind": "Deployment", "metadata": {"name": "d"}, "spec": {}},
            "kind must be NIMService or NIMCache",
        ),
        ({"kind": "NIMService", "metadata": {"name": "s"}}, "NIMService s: spec: expected a mapping"),
        ({"kind": "NIMService", "spec": {"image": {"tag": "1"}}}, "spec.image.repository: missing"),
        (
            {
                "kind": "NIMService",
                "spec": {"image": {"repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct"}},
            },
            "no nvidia.com/gpu and no profile",
        ),
        (
            {
                "kind": "NIMService",
                "spec": {
                    "image": {"repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct"},
                    "resources": {"limits": {"nvidia.com/gpu": 4}},
                    "multiNode": {"parallelism": {"tensor": 8, "pipeline": 2}},
                },
            },
            "requests 4 nvidia.com/gpu but tensor 8 per pod needs 8",
        ),
        (
            {
                "kind": "NIMService",
                "spec": {
                    "image": {"repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct"},
                    "multiNode": {"parallelism": {"tensor": "eight"}},
                },
            },
            "spec.multiNode.parallelism.tensor: 'eight' is not a positive integer",
        ),
        ({"kind": "NIMCache", "spec": {"source": {}}}, "needs exactly one of ngc, hf, dataStore"),
        (
            {"kind": "NIMCache", "spec": {"source": {"hf": {"datasetName": "squad"}}}},
            "caches a dataset, not a model",
        ),
        ({"kind": "NIMPipeline", "spec": {"services": {}}}, "spec.services: must be a list"),
        (
            {"kind": "NIMPipeline", "spec": {"services": [{"name": "a", "spec": {}}]}},
            r"spec.services\[0\]: NIMService a: spec.image: expected a mapping",
        ),
        ("NIMService", "manifest: expected a mapping, got str"),
    ],
)
def test_malformed_manifests_raise_a_clear_error(catalog: Catalog, doc: Any, message: str) -> None:
    with pytest.raises(RequirementError, match=message):
        requirements_from_manifest(doc, catalog)


def test_a_nimservice_s_max_model_len_and_mig_device_reach_the_requirement(catalog: Catalog) -> None:
    doc = _nimservice(
        image={"repository": "nvcr.io/nim/meta/llama-3.1-8b-instruct", "tag": "1.3.3"},
        env=[{"name": "NIM_MAX_MODEL_LEN", "value": "16384"}],
        resources={"limits": {"nvidia.com/mig-3g.40gb": 1}},
    )
    requirement = requirement_from_manifest(doc, catalog)
    assert (requirement.max_context, requirement.context_source) == (16384, "spec.env NIM_MAX_MODEL_LEN")
    assert (requirement.mig_profile, requirement.gpus) == ("3g.40gb", 1)
    assert requirement.kv_cache_per_gpu_bytes == 128 * 1024 * 16384
