"""The one exception placement raises for input it cannot read."""

from __future__ import annotations


class RequirementError(ValueError):
    """A model request, pod or manifest cannot be read as a NIM workload; the message says where and why.

    Malformed input (a GPU count that is not a number, a missing `spec`, a profile that contradicts the
    pod's own environment) raises this, never a crash. An unknown model is not an error: its requirement
    has `params_b` None and `fit` reports it.
    """


class NoGpuRequested(RequirementError):
    """The pod asks for no GPU at all (no `nvidia.com/gpu`, no MIG device, no GPU in its resource claims):
    not a GPU inference pod, so there is nothing to place (the extender lets such a pod pass)."""
