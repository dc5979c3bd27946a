"""The extender enforces the engine-aware memory rule: NVIDIA's default profile is admitted where it runs."""

from __future__ import annotations

from nimdoctor.extender.decide import clean_reason
from tests.extender.live import Client
from tests.extender.test_protocol import names_request, post_json
from tests.placement.pods import nim_pod

NEMOTRON_49B = "nvidia/llama-3.3-nemotron-super-49b-v1"


def test_a_one_gpu_49b_fp8_pod_is_admitted_on_h100_and_rejected_on_l40s(client: Client) -> None:
    # NIM 1.10.1 ships tensorrt_llm-h100-fp8-tp1 (NVIDIA's default there): its KV pool holds the full
    # 131,072 tokens. On an L40S NVIDIA ships fp8 at TP 4 only, so TP 1 is a generic vLLM profile, and
    # 46.5 GiB of weights alone exceed 0.9 of the 45 GiB GPU.
    pod = nim_pod(NEMOTRON_49B, gpus=1, tag="1.10.1", annotations={"nimdoctor.io/precision": "fp8"})
    answer = post_json(client, "/filter", names_request(pod, ["dgx-h100", "l40s-4x"]))
    assert answer["NodeNames"] == ["dgx-h100"]
    reason = answer["FailedAndUnresolvableNodes"]["l40s-4x"]
    assert reason.startswith("NIM-FIT-001 model needs more GPU memory than one GPU here offers; raise TP")
    assert "fp8" not in reason  # the model already is fp8
    assert reason == clean_reason(reason)
