"""Pod objects as the scheduler extender receives them, shaped like the NIM Operator's pods."""

from __future__ import annotations

from typing import Any

STANDALONE_LABELS = {
    "app": "llm",
    "app.kubernetes.io/name": "llm",
    "app.kubernetes.io/instance": "llm",
    "app.kubernetes.io/part-of": "nim-service",
    "app.kubernetes.io/managed-by": "k8s-nim-operator",
}


def nim_pod(
    model: str,
    *,
    gpus: int | str | None = 1,
    env: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    container: str = "llm-ctr",
    tag: str = "1.3.3",
    resource: str = "nvidia.com/gpu",
) -> dict[str, Any]:
    """A standalone NIMService pod serving `model` (`nvcr.io/nim/<model>:<tag>`) with `gpus` devices of
    `resource` (whole GPUs, or MIG devices with `nvidia.com/mig-<profile>`)."""
    resources: dict[str, Any] = {}
    if gpus is not None:
        resources = {"limits": {resource: gpus}, "requests": {resource: gpus}}
    standard = [
        {"name": "NIM_CACHE_PATH", "value": "/model-store"},
        {
            "name": "NGC_API_KEY",
            "valueFrom": {"secretKeyRef": {"name": "ngc-api-secret", "key": "NGC_API_KEY"}},
        },
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "llm-7d9f8-abcde",
            "namespace": "nim-service",
            "labels": dict(STANDALONE_LABELS if labels is None else labels),
            "annotations": dict(annotations or {}),
        },
        "spec": {
            "schedulerName": "nim-scheduler",
            "containers": [
                {
                    "name": container,
                    "image": f"nvcr.io/nim/{model}:{tag}",
                    "env": standard + [{"name": k, "value": v} for k, v in (env or {}).items()],
                    "resources": resources,
                }
            ],
        },
    }


def lws_env(tensor: int, pipeline: int, rank: int) -> dict[str, str]:
    """The multi-node env the NIM Operator gives LeaderWorkerSet pods."""
    return {
        "NIM_MULTI_NODE": "1",
        "NIM_TENSOR_PARALLEL_SIZE": str(tensor),
        "NIM_PIPELINE_PARALLEL_SIZE": str(pipeline),
        "NIM_NUM_COMPUTE_NODES": str(pipeline),
        "NIM_NODE_RANK": str(rank),
    }


def lws_leader(model: str, *, tensor: int, pipeline: int) -> dict[str, Any]:
    """The leader pod of a multi-node NIMService's LeaderWorkerSet."""
    labels = {
        **STANDALONE_LABELS,
        "app": "llm-lws",
        "nim-llm-role": "leader",
        "leaderworkerset.sigs.k8s.io/name": "llm-lws",
        "leaderworkerset.sigs.k8s.io/worker-index": "0",
    }
    return nim_pod(
        model,
        gpus=tensor,
        env={**lws_env(tensor, pipeline, 0), "NIM_LEADER_ROLE": "1"},
        labels=labels,
        container="nim-leader",
    )


def lws_worker(model: str, *, tensor: int, pipeline: int) -> dict[str, Any]:
    """A worker pod: only the LeaderWorkerSet's labels, container `nim-worker`."""
    labels = {"leaderworkerset.sigs.k8s.io/name": "llm-lws", "leaderworkerset.sigs.k8s.io/worker-index": "1"}
    return nim_pod(
        model,
        gpus=tensor,
        env={**lws_env(tensor, pipeline, 1), "NIM_LEADER_ROLE": "0"},
        labels=labels,
        container="nim-worker",
    )
