"""Placement: what a NIM model needs (`requirement_from_*`), and whether a node fits it (`fit`, `place`).

Pure: no I/O; the catalog (checks/placement.yaml, checks/models.yaml) is passed in. Importing this package
registers the NIM-FIT rules.
"""

from nimdoctor.placement.errors import NoGpuRequested, RequirementError
from nimdoctor.placement.fit import (
    PRECEDENCE,
    ModelRequest,
    Verdict,
    evaluate,
    first_failure,
    fit,
    fit_claimed,
    fit_nodes,
    place,
    tensor_parallel_candidates,
)
from nimdoctor.placement.profiles import Profile, parse_profile
from nimdoctor.placement.requirement import (
    ANNOTATION_PARAMS,
    ANNOTATION_PRECISION,
    cache_pvc_bytes,
    pod_role,
    requirement_from_manifest,
    requirement_from_model,
    requirement_from_pod,
    requirements_from_manifest,
)

__all__ = [
    "ANNOTATION_PARAMS",
    "ANNOTATION_PRECISION",
    "PRECEDENCE",
    "ModelRequest",
    "NoGpuRequested",
    "Profile",
    "RequirementError",
    "Verdict",
    "cache_pvc_bytes",
    "evaluate",
    "first_failure",
    "fit",
    "fit_claimed",
    "fit_nodes",
    "parse_profile",
    "place",
    "pod_role",
    "requirement_from_manifest",
    "requirement_from_model",
    "requirement_from_pod",
    "requirements_from_manifest",
    "tensor_parallel_candidates",
]
