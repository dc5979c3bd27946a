"""The one exception placement raises for input it cannot read."""

from __future__ import annotations


class RequirementError(ValueError):
    """A model request, pod or manifest cannot be read as a NIM workload; the message says where and why.

    Malformed input (a GPU count that is not a number, a missing `spec`, a profile that contradicts the
    pod's own environment) raises this, never a crash. An unknown model is not an error: its requirement
    has `params_b` None and `fit` reports it.
    """
