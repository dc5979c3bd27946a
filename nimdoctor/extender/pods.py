"""Which pods the extender judges: NIM inference pods that request GPUs (`nvidia.com/gpu`, a MIG device, or
resource claims: DRA). Everything else passes untouched.

A pod is a NIM pod when the NIM Operator made it (standalone, LeaderWorkerSet leader or worker: see
`placement.pod_role`) or when it carries nimdoctor's sizing annotations, which is how a pod the operator did
not make opts in. The operator's NIMCache download pods (`app=k8s-nim-operator`, not `part-of=nim-service`)
request no GPU and are never inference pods, whatever they carry. Every reader here takes any JSON value:
the pod comes off the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nimdoctor.placement import ANNOTATION_PARAMS, ANNOTATION_PRECISION, pod_role
from nimdoctor.placement.dra import uses_claims

GPU_RESOURCE = "nvidia.com/gpu"
MIG_PREFIX = "nvidia.com/mig-"
OPERATOR = "k8s-nim-operator"


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else None


def requests_gpu(pod: Mapping[str, Any]) -> bool:
    """Whether a container or init container asks for `nvidia.com/gpu` or a MIG device
    (`nvidia.com/mig-<profile>`)."""
    spec = _get(pod, "spec")
    for key in ("containers", "initContainers"):
        containers = _get(spec, key)
        if not isinstance(containers, list):
            continue
        for container in containers:
            resources = _get(container, "resources")
            for part in ("limits", "requests"):
                values = _get(resources, part)
                if not isinstance(values, Mapping):
                    continue
                for name, count in values.items():
                    wanted = name == GPU_RESOURCE or str(name).startswith(MIG_PREFIX)
                    if wanted and count is not None and count not in (0, "0"):
                        return True
    return False


def is_cache_job(pod: Mapping[str, Any]) -> bool:
    """A pod of the NIM Operator's NIMCache jobs: operator-managed, but not part of a NIM service."""
    labels = _get(_get(pod, "metadata"), "labels")
    return bool(
        _get(labels, "app.kubernetes.io/managed-by") == OPERATOR
        and _get(labels, "app.kubernetes.io/part-of") != "nim-service"
    )


def is_nim_pod(pod: Mapping[str, Any]) -> bool:
    """A NIM inference pod: made by the NIM Operator for a NIMService, or annotated for nimdoctor."""
    if is_cache_job(pod):
        return False
    if pod_role(pod) is not None:
        return True
    annotations = _get(_get(pod, "metadata"), "annotations")
    return isinstance(annotations, Mapping) and (
        ANNOTATION_PARAMS in annotations or ANNOTATION_PRECISION in annotations
    )


def judged(pod: Mapping[str, Any]) -> bool:
    """Whether the extender judges this pod at all: a NIM pod that requests GPUs, or has resource claims
    (whether they hold GPUs is known once they are read: `placement.NoGpuRequested` lets it pass)."""
    return is_nim_pod(pod) and (requests_gpu(pod) or uses_claims(pod))
