"""What the agent's latest probe and publish left behind, shared by the loop (the one writer) and the HTTP
threads (readers).

Each update replaces an immutable `Snapshot`, so a scrape reads one consistent picture without a lock and
never sees a report from one probe with the counters of another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from nimdoctor.report import Report, Status

_SUCCESS = frozenset({Status.PASS, Status.SKIP})


@dataclass(frozen=True)
class Snapshot:
    """Times are Unix seconds; `completed_at` is on the monotonic clock (for readiness)."""

    report: Report | None = None
    probed_at: float | None = None  # when the latest report's probe started
    probe_duration: float | None = None
    probe_runs: int = 0
    probe_failures: int = 0
    probe_last_success: float | None = None
    completed_at: float | None = None
    publish_runs: int = 0
    publish_failures: int = 0
    publish_last_success: float | None = None
    check_last_success: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))


class AgentState:
    """The current `Snapshot` and the only ways to move it forward."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.snapshot = Snapshot()
        self._lock = threading.Lock()
        self._monotonic = monotonic

    def probed(self, report: Report, started: float, duration: float) -> None:
        """A probe that started at `started` (Unix seconds) produced `report`."""
        with self._lock:
            s = self.snapshot
            last_success = dict(s.check_last_success)
            last_success.update({f.id: started for f in report.findings if f.status in _SUCCESS})
            self.snapshot = replace(
                s,
                report=report,
                probed_at=started,
                probe_duration=duration,
                probe_runs=s.probe_runs + 1,
                probe_last_success=started + duration,
                completed_at=self._monotonic(),
                check_last_success=MappingProxyType(last_success),
            )

    def probe_failed(self) -> None:
        """A probe produced no report."""
        with self._lock:
            s = self.snapshot
            self.snapshot = replace(s, probe_runs=s.probe_runs + 1, probe_failures=s.probe_failures + 1)

    def published(self, ok: bool, at: float) -> None:
        """A publish attempt ended at `at` (Unix seconds), successfully or not."""
        with self._lock:
            s = self.snapshot
            self.snapshot = replace(
                s,
                publish_runs=s.publish_runs + 1,
                publish_failures=s.publish_failures + (0 if ok else 1),
                publish_last_success=at if ok else s.publish_last_success,
            )

    def ready(self, within: float) -> bool:
        """Whether a probe completed in the last `within` seconds."""
        done = self.snapshot.completed_at
        return done is not None and self._monotonic() - done <= within
