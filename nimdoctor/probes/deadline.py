"""Run a probe so that the caller has an answer by a deadline, whatever the probed thing does.

A hung GPU can block an NVML call for minutes; a host file on a stalled network or FUSE mount can block a
`read`. Python cannot interrupt either, so the probe runs in a daemon thread and the caller stops waiting at
the deadline. The thread is left to finish on its own (a daemon never keeps the process alive); the probe
is expected to watch a cancellation flag and make no further calls once the caller has given up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")


class DeadlineExceeded(Exception):
    """The probe did not return within its deadline."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:g} s")
        self.seconds = seconds


def run_with_deadline(work: Callable[[], _T], seconds: float, *, name: str) -> _T:
    """`work()`'s result, or its exception re-raised here; `DeadlineExceeded` after `seconds`."""
    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as exc:  # handed to the caller, who decides what it means
            outcome.append((False, exc))

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        raise DeadlineExceeded(seconds)
    done, value = outcome[0]
    if done:
        return value  # type: ignore[no-any-return]
    raise value
