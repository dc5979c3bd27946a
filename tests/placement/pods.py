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


def dra_pod(
    model: str,
    *,
    template: str | None = "gpu-template",
    claim: str | None = None,
    env: dict[str, str] | None = None,
    request: str | None = None,
) -> dict[str, Any]:
    """A standalone NIMService pod whose GPUs come from a DRA resource claim, as NIM Operator 3.x makes it
    from `spec.draResources`: no `nvidia.com/gpu`; a pod claim naming the ResourceClaimTemplate `template`
    (or the ResourceClaim `claim`), used by the NIM container (limited to `request` when given)."""
    pod = nim_pod(model, gpus=None, env=env)
    source = {"resourceClaimName": claim} if claim else {"resourceClaimTemplateName": template}
    pod["spec"]["resourceClaims"] = [{"name": "gpu", **source}]
    use = {"name": "gpu", **({"request": request} if request else {})}
    pod["spec"]["containers"][0]["resources"] = {"claims": [use]}
    return pod


def claim_spec(
    count: int | None = 1,
    *,
    mode: str | None = None,
    selectors: tuple[str, ...] = (),
    device_class: str = "gpu.nvidia.com",
    name: str = "gpu",
) -> dict[str, Any]:
    """A `resource.k8s.io/v1` ResourceClaimSpec with one request of `count` devices of `device_class`
    (`mode` All: every matching device), with CEL `selectors`."""
    exactly: dict[str, Any] = {"deviceClassName": device_class}
    if mode is not None:
        exactly["allocationMode"] = mode
    if count is not None:
        exactly["count"] = count
    if selectors:
        exactly["selectors"] = [{"cel": {"expression": text}} for text in selectors]
    return {"devices": {"requests": [{"name": name, "exactly": exactly}]}}


def claim_template(name: str, spec: dict[str, Any], namespace: str = "nim-service") -> dict[str, Any]:
    """A ResourceClaimTemplate object holding `spec`."""
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"spec": spec},
    }
