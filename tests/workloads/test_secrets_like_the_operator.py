"""NIM-WL-007 reads the auth secret as the operator wires it: a Hugging Face model's pod reads HF_TOKEN (NGC
key optional), an NGC model's NGC_API_KEY; a NIMCache's job exports the secret whole with envFrom, its NGC
puller reads NGC_API_KEY, its Hugging Face puller HF_TOKEN."""

from __future__ import annotations

from typing import Any

import pytest

from nimdoctor.catalog import Catalog
from tests.kube import Emulator
from tests.workloads.cluster import api_key_secret, nimcache, nimservice, put
from tests.workloads.conftest import judge

HF_ENV = [{"name": "NIM_MODEL_NAME", "value": "hf://meta-llama/Llama-3.2-1B-Instruct"}]


def hf_cache(name: str, secret: str) -> dict[str, Any]:
    cache = nimcache(name)
    cache["spec"]["source"] = {
        "hf": {
            "endpoint": "https://huggingface.co",
            "namespace": "meta-llama",
            "authSecret": secret,
            "modelPuller": "nvcr.io/nim/nvidia/llm-nim:1.12",
            "pullSecret": "ngc-secret",
            "modelName": "Llama-3.2-1B-Instruct",
        }
    }
    return cache


@pytest.mark.parametrize(("key", "status"), [("HF_TOKEN", "pass"), ("NGC_API_KEY", "fail")])
def test_hf_model_service_needs_hf_token_not_the_ngc_key(
    live: Emulator, catalog: Catalog, key: str, status: str
) -> None:
    service = nimservice(
        "hf-llm",
        image={"repository": "nvcr.io/nim/nvidia/llm-nim", "tag": "1.12", "pullSecrets": ["ngc-secret"]},
        authSecret="hf-secret",
        env=HF_ENV,
        storage={"pvc": {"create": True, "size": "50Gi", "volumeAccessMode": "ReadWriteOnce"}},
    )
    put(live, service, api_key_secret("hf-secret", key=key))
    finding = judge(live, catalog)["hf-llm", "NIM-WL-007"]
    assert finding.status.value == status
    assert "a Hugging Face model reads HF_TOKEN; NGC_API_KEY is optional" in finding.message


def test_service_of_an_hf_cache_needs_hf_token(live: Emulator, catalog: Catalog) -> None:
    put(live, hf_cache("llama-cache", "hf-secret"), api_key_secret("hf-secret", key="HF_TOKEN"))
    judged = judge(live, catalog)
    assert judged["llama-cache", "NIM-WL-007"].status.value == "pass"
    assert judged["llm", "NIM-WL-007"].status.value == "fail"  # ngc-api-secret holds NGC_API_KEY only
    assert "has no key HF_TOKEN" in judged["llm", "NIM-WL-007"].message


def test_hf_cache_secret_is_read_with_envfrom_any_keys_warn_only(live: Emulator, catalog: Catalog) -> None:
    put(live, hf_cache("llama-cache", "hf-secret"), api_key_secret("hf-secret", key="TOKEN"))
    finding = judge(live, catalog)["llama-cache", "NIM-WL-007"]
    assert finding.status.value == "warn"
    assert finding.message == (
        "secret hf-secret has no key HF_TOKEN (keys: TOKEN): the cache job exports every key with envFrom; "
        "the hf puller reads HF_TOKEN"
    )


def test_ngc_cache_secret_needs_the_ngc_key(live: Emulator, catalog: Catalog) -> None:
    put(live, api_key_secret(key="HF_TOKEN"))
    finding = judge(live, catalog)["llama-cache", "NIM-WL-007"]
    assert finding.status.value == "fail"
    assert finding.message.endswith(
        "the cache job exports every key with envFrom; the NGC puller reads NGC_API_KEY"
    )
