"""The agent's schedule: probe on the interval (one probe at a time), publish after each probe, retry a
failed publish with capped exponential backoff, and write a heartbeat even if probing lags.

The probe is `nimdoctor.diagnose.diagnose`, the same pipeline as `nimdoctor run`. Nothing here raises out
of the loop: a probe that crashes is counted and logged, a publish that fails is counted, retried later,
and the next attempt publishes whatever report is latest by then.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from nimdoctor.agent.backoff import Backoff
from nimdoctor.agent.state import AgentState
from nimdoctor.catalog import Catalog
from nimdoctor.cluster.api import ApiError
from nimdoctor.cluster.publisher import Publisher
from nimdoctor.diagnose import Sources, diagnose
from nimdoctor.report import Report

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    """Seconds between probes, between heartbeats, and the longest wait between publish retries."""

    interval: float = 60.0
    heartbeat: float = 300.0
    backoff_cap: float = 60.0


class Agent:
    """Probes one node and publishes what it finds; `state` is what the metrics and `/readyz` read."""

    def __init__(
        self,
        sources: Sources,
        catalog: Catalog,
        node: str,
        state: AgentState,
        publisher: Publisher | None = None,
        schedule: Schedule | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sources = sources
        self.catalog = catalog
        self.node = node
        self.state = state
        self.publisher = publisher
        self.schedule = schedule or Schedule()
        self.backoff = Backoff(cap=self.schedule.backoff_cap)
        self._clock = clock
        self._failures_in_a_row = 0  # for the log
        self._backing_off = False  # the last publish failed: wait for `_next_publish` even after a probe
        self._next_publish: float | None = None  # the retry, or else the heartbeat

    def probe(self) -> Report | None:
        """One diagnosis of the node; None (counted, logged) if the pipeline raised."""
        sources = self.sources
        if sources.simulated is None and self.publisher is not None:
            # The Node's own labels (GPU Feature Discovery's) feed the node checks, as the agent sees them.
            sources = dataclasses.replace(sources, node_labels=self.publisher.node_labels)
        started = time.time()
        begun = time.perf_counter()
        try:
            report = diagnose(
                sources, self.catalog, self.node, now=dt.datetime.fromtimestamp(started, dt.UTC)
            )
        except Exception:
            log.exception("probe failed; the next one runs in %g s", self.schedule.interval)
            self.state.probe_failed()
            return None
        self.state.probed(report, started, time.perf_counter() - begun)
        return report

    def publish(self) -> bool:
        """Publish the latest report; whether the API now shows it."""
        report = self.state.snapshot.report
        if self.publisher is None or report is None:
            return False
        try:
            done = self.publisher.publish(report)
        except ApiError as exc:
            self.state.published(False, time.time())
            self._failures_in_a_row += 1
            log.warning("publish failed (%d in a row): %s", self._failures_in_a_row, exc)
            return False
        except Exception:  # a bug here must not stop probing or serving metrics
            self.state.published(False, time.time())
            log.exception("publish failed")
            return False
        self.state.published(True, time.time())
        if self._failures_in_a_row:
            log.info("published again after %d failed attempts", self._failures_in_a_row)
        self._failures_in_a_row = 0
        if done.created or done.status:
            log.info("NodeReport %s written (ready=%s)", self.node, report.ready)
        return True

    def run(self, stop: threading.Event) -> None:
        """Probe and publish until `stop` is set."""
        next_probe = self._clock()
        while not stop.is_set():
            now = self._clock()
            if now >= next_probe:
                next_probe = now + self.schedule.interval
                self.probe()
                if not self._backing_off or self._clock() >= (self._next_publish or 0.0):
                    self._attempt()
            elif self._next_publish is not None and now >= self._next_publish:
                self._attempt()
            wake = next_probe if self._next_publish is None else min(next_probe, self._next_publish)
            stop.wait(max(0.0, wake - self._clock()))

    def _attempt(self) -> None:
        """Publish now; after a failure retry after a backoff, after a success at the next heartbeat."""
        if self.publisher is None:
            return
        self._backing_off = not self.publish()
        if self._backing_off:
            self._next_publish = self._clock() + self.backoff.next_delay()
        else:
            self.backoff.reset()
            self._next_publish = self._clock() + self.schedule.heartbeat

    def once(self) -> int:
        """`--once`: probe, publish, and the exit code: 0 published (or nothing to publish to), 1 the
        publish failed, 4 the probe produced no report."""
        if self.probe() is None:
            return 4
        if self.publisher is None:
            return 0
        return 0 if self.publish() else 1
