"""Publish a node's Report: its NodeReport (created once, `/status` written on change and on each heartbeat),
and on its Node the `NIMNotReady` condition, labels and annotation (patched only when they differ).

Every call is idempotent and starts from what the API last showed, so after any failure the next call
simply does what is still missing. Request shapes, chosen to be right on a real API server and on kmock:
- NodeReport status: a JSON patch `add /status` on the status subresource, replacing the whole status, so
  a key that vanished from the report vanishes from the object and `null` ("unlimited", "unknown") stays
  `null` (a merge patch would delete it).
- Node condition: the Node is read right before, and the full `conditions` list is sent with ours replaced
  (strategic merge: a real server merges by type, a plain dict merge gets the same list).
- Node labels and annotation: a merge patch naming only our keys (`null` removes a label whose value is
  unknown).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from nimdoctor import __version__
from nimdoctor.cluster import node as node_meta
from nimdoctor.cluster.api import JSON, JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, ApiError, KubeApi
from nimdoctor.cluster.nodereport import (
    GROUP,
    PLURAL,
    VERSION,
    NodeReportError,
    build_status,
    nodereport_object,
    parse_time,
    stable_content,
    status_document,
)
from nimdoctor.report import Report

log = logging.getLogger(__name__)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Published:
    """What one `publish` call wrote."""

    created: bool = False
    status: bool = False
    condition: bool = False
    metadata: bool = False


class Publisher:
    """Keeps one node's NodeReport and Node in step with its latest Report."""

    def __init__(
        self,
        api: KubeApi,
        node: str,
        *,
        heartbeat: float,
        min_nofile: int,
        agent_version: str = __version__,
        now: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.api = api
        self.node = node
        self.heartbeat = heartbeat
        self.min_nofile = min_nofile
        self.agent_version = agent_version
        self._now = now
        self._node_path = f"/api/v1/nodes/{quote(node, safe='')}"
        self._collection = f"/apis/{GROUP}/{VERSION}/{PLURAL}"
        self._report_path = f"{self._collection}/{quote(node, safe='')}"
        self._node: dict[str, Any] | None = None  # the Node as last read or patched
        self._exists = False  # our NodeReport is known to exist
        self._stored: Any = None  # its status as last read or written; None: unknown or none
        self._written_at: dt.datetime | None = None  # its heartbeatTime

    @property
    def node_labels(self) -> dict[str, str] | None:
        """The Node's labels as last read, without ours; None before the Node was read."""
        if self._node is None:
            return None
        labels = _metadata(self._node).get("labels")
        return node_meta.foreign_labels(labels) if isinstance(labels, dict) else {}

    def publish(self, report: Report) -> Published:
        """Bring the NodeReport and the Node in line with `report`; raises `ApiError` on the first failure."""
        now = self._now()
        if self._node is None or self._heartbeat_due(now):
            self._node = self.api.request("GET", self._node_path)  # at heartbeats: labels others changed
        done = Published()
        self._write_report(report, now, done)
        self._write_condition(report, now, done)
        self._write_metadata(report, done)
        return done

    def _heartbeat_due(self, now: dt.datetime) -> bool:
        return self._written_at is None or (now - self._written_at).total_seconds() >= self.heartbeat

    def _ensure_report(self, done: Published) -> None:
        if self._exists:
            return
        try:
            existing = self.api.request("GET", self._report_path)
        except ApiError as exc:
            if exc.status != 404:
                raise
            uid = _metadata(self._node).get("uid")
            owner = uid if isinstance(uid, str) else None
            try:
                self.api.request("POST", self._collection, nodereport_object(self.node, owner), JSON)
                done.created = True
            except ApiError as create_error:
                if create_error.status != 409:  # 409: another writer created it meanwhile
                    raise
            self._exists, self._stored, self._written_at = True, None, None
            return
        status = existing.get("status")
        self._exists = True
        self._stored = status if isinstance(status, dict) else None  # anything else gets overwritten
        try:
            self._written_at = parse_time(self._stored.get("heartbeatTime")) if self._stored else None
        except NodeReportError:
            self._written_at = None

    def _write_report(self, report: Report, now: dt.datetime, done: Published) -> None:
        self._ensure_report(done)
        status = status_document(build_status(report, now, self.agent_version))
        unchanged = self._stored is not None and stable_content(self._stored) == stable_content(status)
        if unchanged and not self._heartbeat_due(now):
            return
        patch = [{"op": "add", "path": "/status", "value": status}]
        try:
            self.api.request("PATCH", f"{self._report_path}/status", patch, JSON_PATCH)
        except ApiError as exc:
            if exc.status == 404:  # deleted under us: create it again next time
                self._exists, self._stored = False, None
            raise
        self._stored, self._written_at = status, now
        done.status = True

    def _write_condition(self, report: Report, now: dt.datetime, done: Published) -> None:
        wanted = node_meta.desired_condition(report)
        if wanted.matches(node_meta.find_condition(_conditions(self._node))):
            return
        # The patch carries every condition, so read them fresh: a stale copy would set back the kubelet's.
        self._node = self.api.request("GET", self._node_path)
        conditions = _conditions(self._node)
        current = node_meta.find_condition(conditions)
        if wanted.matches(current):
            return
        ours = node_meta.condition_object(wanted, current, now)
        body = {"status": {"conditions": node_meta.replace_condition(conditions, ours)}}
        self._node = self.api.request("PATCH", f"{self._node_path}/status", body, STRATEGIC_MERGE_PATCH)
        done.condition = True
        log.info(
            "node %s: condition %s=%s (%s)", self.node, node_meta.CONDITION_TYPE, wanted.status, wanted.reason
        )

    def _write_metadata(self, report: Report, done: Published) -> None:
        labels, annotations = node_meta.desired_metadata(report, self.min_nofile)
        patch = node_meta.metadata_patch(labels, annotations, _metadata(self._node))
        if patch is None:
            return
        self._node = self.api.request("PATCH", self._node_path, patch, MERGE_PATCH)
        done.metadata = True


def _metadata(node: dict[str, Any] | None) -> dict[str, Any]:
    metadata = (node or {}).get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _conditions(node: dict[str, Any] | None) -> Any:
    status = (node or {}).get("status")
    return status.get("conditions") if isinstance(status, dict) else None
