"""Prioritize: the tightest fit scores highest, so big nodes stay free for big models.

kube-scheduler adds `score x weight x 10` to a node's total, and an extender's score must be an integer from
0 to 10 (`MaxExtenderPriority`). The rule, per node:

- 0 when the model does not fit, the fit is unknown, or the node has no current report.
- Otherwise slack = the mean of three fractions, each from 0 (exact) to 1 (all of it spare):
  - GPUs: (node GPUs - GPUs the pod requests) / node GPUs;
  - NVLink: how far the largest NVLink clique is from the tensor-parallel size, |clique - TP| / max(clique,
    TP); for a single-GPU model, (clique - 1) / clique: an NVLink island is wasted on it;
  - memory: (GPU memory - the least memory the weights need) / GPU memory.
  A fraction the report or the model leaves unknown counts as 0.5.
- A clean fit scores 5 + round(5 x (1 - slack)): 5 to 10. A fit with warnings (running without NVLink, an
  unreported limit) scores 1 + round(3 x (1 - slack)): 1 to 4, below every clean fit.

Example (`nimdoctor run --simulate` machines, bf16): Llama 3.1 8B on one GPU scores 8 on l40s-4x and 6 on
dgx-h100; Llama 3.1 70B at TP 4 scores 8 on dgx-h100 (clean) and 3 on l40s-4x (fits, without NVLink).
"""

from __future__ import annotations

from msgspec import UNSET

from nimdoctor.placement import Verdict
from nimdoctor.report import Capabilities, Requirement

UNKNOWN = 0.5


def _fraction(spare: float, whole: float) -> float:
    return min(1.0, max(0.0, spare / whole))


def slack(capabilities: Capabilities, requirement: Requirement) -> float:
    """How much of the node the pod leaves unused, from 0 (exact fit) to 1 (see the module docstring)."""
    gpus = capabilities.gpu_count
    gpu = _fraction(gpus - requirement.gpus, gpus) if gpus is not UNSET and gpus > 0 else UNKNOWN
    clique = capabilities.max_nvlink_clique
    tp = requirement.tensor_parallel
    if clique is UNSET or clique < 1:
        nvlink = UNKNOWN
    elif tp <= 1:
        nvlink = _fraction(clique - 1, clique)
    else:
        nvlink = _fraction(abs(clique - tp), max(clique, tp))
    return (gpu + nvlink + _memory_slack(capabilities, requirement)) / 3


def _memory_slack(capabilities: Capabilities, requirement: Requirement) -> float:
    memory = capabilities.gpu_memory_bytes
    need = requirement.min_gpu_memory_bytes
    if memory is UNSET or memory <= 0 or need is None:
        return UNKNOWN
    return _fraction(memory - need, memory)


def score(capabilities: Capabilities, requirement: Requirement, verdict: Verdict) -> int:
    """The node's extender score, an integer from 0 to 10."""
    if verdict.fits is not True:
        return 0
    tight = 1.0 - slack(capabilities, requirement)
    if verdict.reasons:  # only warnings: it fits, but worse than a clean fit anywhere
        return 1 + int(3 * tight + 0.5)
    return 5 + int(5 * tight + 0.5)
