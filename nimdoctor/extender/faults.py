"""Unexpected exceptions while answering the scheduler: counted, and logged once per distinct cause per
minute (not once per request: a bug hit by every request must not flood the log with tracebacks).

A cause is where the exception was raised (its type and innermost frame), so one bug is one cause however
its message varies with the input.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import Counter
from collections.abc import Callable

log = logging.getLogger(__name__)

PERIOD = 60.0  # seconds between two log lines of one cause
MAX_CAUSES = 1024  # distinct causes remembered; past it the memory starts over (a leak guard)


def cause_of(exc: BaseException) -> str:
    """`TypeName at file.py:123 in function`: the innermost frame that raised `exc`."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    last = frames[-1]
    return f"{type(exc).__name__} at {last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name}"


class Faults:
    """Counts of unexpected exceptions by where they happened (`filter`, `prioritize`, `judge`: judging one
    node shape); each cause logged with its traceback at most once per `period` seconds."""

    def __init__(self, period: float = PERIOD, clock: Callable[[], float] = time.monotonic) -> None:
        self.period = period
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self._logged: dict[str, tuple[float, int]] = {}  # cause -> (when last logged, count then)
        self._seen: Counter[str] = Counter()

    def record(self, where: str, exc: BaseException) -> None:
        """Count `exc`, raised while answering `where`, and log it unless its cause was logged recently."""
        self.counts[where] += 1
        cause = f"{where}: {cause_of(exc)}"
        if len(self._seen) >= MAX_CAUSES and cause not in self._seen:
            self._seen.clear()
            self._logged.clear()
        self._seen[cause] += 1
        now = self.clock()
        last = self._logged.get(cause)
        if last is not None and now - last[0] < self.period:
            return
        since = self._seen[cause] - (last[1] if last else 0) - 1
        self._logged[cause] = (now, self._seen[cause])
        repeats = f" ({since} more since it was last logged)" if since else ""
        log.error("internal error in %s%s", cause, repeats, exc_info=exc)
