"""NIM profile names: engine, GPU, precision, parallelism and QoS."""

from __future__ import annotations

import pytest

from nimdoctor.placement import Profile, parse_profile


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "tensorrt_llm-h100_nvl-fp8-tp2-pp1-throughput",
            Profile(
                name="tensorrt_llm-h100_nvl-fp8-tp2-pp1-throughput",
                engine="tensorrt_llm",
                gpu="H100-NVL",
                precision="fp8",
                tp=2,
                pp=1,
                qos="throughput",
            ),
        ),
        (
            "tensorrt_llm-l40s-fp16-tp8-pp1-throughput",
            Profile(
                name="tensorrt_llm-l40s-fp16-tp8-pp1-throughput",
                engine="tensorrt_llm",
                gpu="L40S",
                precision="fp16",
                tp=8,
                pp=1,
                qos="throughput",
            ),
        ),
        (
            "vllm-bf16-tp2-pp1-lora",
            Profile(
                name="vllm-bf16-tp2-pp1-lora",
                engine="vllm",
                gpu=None,
                precision="bf16",
                tp=2,
                pp=1,
                lora=True,
            ),
        ),
        (
            "tensorrt_llm-a100_80gb-bf16-tp4-pp1-latency",
            Profile(
                name="tensorrt_llm-a100_80gb-bf16-tp4-pp1-latency",
                engine="tensorrt_llm",
                gpu="A100",
                precision="bf16",
                tp=4,
                pp=1,
                qos="latency",
            ),
        ),
        (
            "TensorRT_LLM-H100-FP8-TP8-PP2-Throughput",
            Profile(
                name="TensorRT_LLM-H100-FP8-TP8-PP2-Throughput",
                engine="tensorrt_llm",
                gpu="H100",
                precision="fp8",
                tp=8,
                pp=2,
                qos="throughput",
            ),
        ),
        (
            "tensorrt_llm-fp8-tp1-pp1-throughput-2321:10de",
            Profile(
                name="tensorrt_llm-fp8-tp1-pp1-throughput-2321:10de",
                engine="tensorrt_llm",
                gpu="H100-NVL",
                precision="fp8",
                tp=1,
                pp=1,
                qos="throughput",
            ),
        ),
    ],
)
def test_profile_names_parse(name: str, expected: Profile) -> None:
    assert parse_profile(name) == expected


@pytest.mark.parametrize(
    "name", ["", "default", "4f6d8c0b9e1a2f3c5d7e9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"]
)
def test_profile_ids_and_names_without_precision_or_tp_say_nothing(name: str) -> None:
    assert parse_profile(name) is None
