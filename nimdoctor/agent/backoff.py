"""Capped exponential backoff with jitter, for retrying the API server without a thundering herd."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays of `base * 2**n` seconds, capped at `cap`, each drawn from its upper half ("equal jitter"):
    every agent of a cluster that lost its API server at once comes back spread over the window."""

    def __init__(
        self, base: float = 1.0, cap: float = 60.0, rng: Callable[[], float] = random.random
    ) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0
        self._rng = rng

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        ceiling = min(self.cap, self.base * 2.0 ** min(self.failures, 32))
        self.failures += 1
        return ceiling / 2 + self._rng() * ceiling / 2

    def reset(self) -> None:
        """After a success: the next failure starts again from `base`."""
        self.failures = 0
