"""`nimdoctor lint` on the NIM Operator's own samples: the findings each must produce, and must not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from nimdoctor.cli import cli

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SAMPLES = sorted(FIXTURES.glob("k8s-nim-operator__*.yaml"))

# sample -> {(object name, check): status} that must appear, with the line of the offending field.
MUST = {
    "caching__ngc__nimcache": {},
    "pipelines__rag__rag-pipeline": {},
    "serving__advanced__multi-node__multi-node-nimservice": {
        # DeepSeek-R1 (671B, fp8) in a 100Gi PVC: the weights alone are ~671 GB.
        ("deepseek-r1-nimcache", "NIM-WL-004"): ("fail", 20),
    },
    "serving__standalone__autoscaling__llm": {
        # HPA maxReplicas 2 on a ReadWriteOnce cache; replicas together with scale.enabled.
        ("meta-llama-3-2-1b-instruct", "NIM-WL-003"): ("fail", 43),
        # The CRD's own CEL rule (3.0.2 on): the API server rejects the sample.
        ("meta-llama-3-2-1b-instruct", "NIM-WL-005"): ("fail", 45),
    },
    "serving__standalone__basic__llm": {},
    # A PVC without a NIMCache downloads on its first start only: advice, not a defect; 10Gi holds a 1.24B
    # model (2.5 GB of bf16 weights, 5 GB by NVIDIA's 4x rule).
    "serving__standalone__no-precaching__llm": {},
    "serving__standalone__no-precaching__multi-llm-hf": {},
    "serving__standalone__autoscaling__multi-llm": {
        ("meta-llama-3-2-1b-instruct", "NIM-WL-003"): ("fail", 43),
        ("meta-llama-3-2-1b-instruct", "NIM-WL-005"): ("fail", 54),
    },
    "caching__hf__nimcache": {},
    # GPUs from DRA: a ResourceClaimTemplate of the same file, or a claimCreationSpec.
    "serving__advanced__dra__manual__llm": {},
    "serving__advanced__dra__auto-creation__example1__llm": {},
}
# sample -> {(object name, check): line} of advice: a warning of severity info (the table says INFO).
ADVICE = {
    "serving__standalone__no-precaching__llm": {("meta-llama-3-2-1b-instruct", "NIM-WL-001"): 18},
    "serving__standalone__no-precaching__multi-llm-hf": {("meta-llama-3-2-1b-instruct", "NIM-WL-001"): 21},
    "serving__standalone__autoscaling__multi-llm": {("meta-llama-3-2-1b-instruct", "NIM-WL-015"): 35},
}


def lint(*args: str) -> Result:
    return CliRunner().invoke(cli, ["lint", *args], catch_exceptions=False)


def sample_id(path: Path) -> str:
    return path.stem.split("__", 1)[1]


def test_every_copied_sample_has_expectations() -> None:
    assert {sample_id(p) for p in SAMPLES} == set(MUST)


@pytest.mark.parametrize("sample", SAMPLES, ids=sample_id)
def test_sample_gets_exactly_its_findings(sample: Path) -> None:
    result = lint(str(sample), "-o", "json")
    report = json.loads(result.stdout)
    attention = {
        (f["object"]["name"], f["id"]): (f["status"], f["line"])
        for f in report["findings"]
        if f["status"] in ("fail", "warn", "error") and f["severity"] != "info"
    }
    advice = {
        (f["object"]["name"], f["id"]): f["line"]
        for f in report["findings"]
        if f["status"] == "warn" and f["severity"] == "info"
    }
    assert attention == MUST[sample_id(sample)]
    assert advice == ADVICE.get(sample_id(sample), {})
    failing = any(status == "fail" for status, _ in attention.values())
    assert result.exit_code == (1 if failing else 0)
    assert all(f["file"] == str(sample) for f in report["findings"])


def test_live_only_checks_skip_offline_and_say_why() -> None:
    sample = FIXTURES / "k8s-nim-operator__serving__standalone__basic__llm.yaml"
    report = json.loads(lint(str(sample), "-o", "json").stdout)
    by_key = {(f["object"]["kind"], f["id"]): f for f in report["findings"]}
    for check in ("NIM-WL-007", "NIM-WL-008"):  # the sample defines no Secret
        finding = by_key["NIMService", check]
        assert finding["status"] == "skip"
        assert "not in this lint input: checked against a live cluster only" in finding["message"]
    # The NIMCache is in the same file: resolved offline; only its readiness waits for the cluster.
    assert by_key["NIMService", "NIM-WL-002"]["status"] == "pass"
    assert f"is in this input ({sample}:" in by_key["NIMService", "NIM-WL-002"]["message"]
    assert by_key["NIMCache", "NIM-WL-013"]["status"] == "skip"


def test_older_operator_only_warns_about_replicas_with_autoscaling() -> None:
    sample = FIXTURES / "k8s-nim-operator__serving__standalone__autoscaling__llm.yaml"
    report = json.loads(lint(str(sample), "-o", "json", "--operator-version", "3.0.1").stdout)
    statuses = {f["id"]: f["status"] for f in report["findings"] if f["object"]["kind"] == "NIMService"}
    assert statuses["NIM-WL-005"] == "warn"  # the rule arrived in 3.0.2 (PR #681)
    assert statuses["NIM-WL-003"] == "fail"
    assert report["operatorVersion"] == "3.0.1"


def test_pipeline_services_are_judged_as_nimservices_of_their_pipeline() -> None:
    sample = FIXTURES / "k8s-nim-operator__pipelines__rag__rag-pipeline.yaml"
    report = json.loads(lint(str(sample), "-o", "json").stdout)
    names = {f["object"]["name"] for f in report["findings"]}
    assert names == {"meta-llama3-8b-instruct", "nv-embedqa-1b-v2", "nv-rerankqa-1b-v2"}
    assert {f["object"]["pipeline"] for f in report["findings"]} == {"rag-pipeline"}
    assert report["objects"] == 3


def test_multi_llm_advice_names_the_model_it_serves_not_the_container() -> None:
    sample = FIXTURES / "k8s-nim-operator__serving__standalone__autoscaling__multi-llm.yaml"
    report = json.loads(lint(str(sample), "-o", "json").stdout)
    advice = next(f for f in report["findings"] if f["id"] == "NIM-WL-015" and f["status"] == "warn")
    assert advice["severity"] == "info"
    assert advice["message"].startswith("the Multi-LLM NIM serves meta-llama/Llama-3.2-1B-Instruct with HPA")
