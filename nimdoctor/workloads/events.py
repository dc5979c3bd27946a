"""Kubernetes Events on NIMServices and NIMCaches, one per finding when it first appears.

An Event's name is derived from the object, its uid, the check and the status, so a restarted audit that
creates it again gets 409 AlreadyExists instead of a duplicate; a finding that went away and came back
refreshes the existing Event's time and message. Messages are the finding's message, which holds names,
types and key names only, never a secret's value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import socket
from dataclasses import dataclass
from typing import Any

from nimdoctor.report import Severity, Status, format_time
from nimdoctor.sanitize import clean_line
from nimdoctor.workloads.model import API_VERSION
from nimdoctor.workloads.report import WorkloadFinding

COMPONENT = "nimdoctor-audit"
REPORTING_COMPONENT = "nimdoctor.io/audit"
MESSAGE_MAX = 1024  # the API server truncates longer Event messages
EVENT_STATUSES = (Status.FAIL, Status.WARN)
log = logging.getLogger("nimdoctor.audit")


@dataclass(frozen=True)
class FindingKey:
    """What makes a finding "the same" from one cycle to the next."""

    kind: str
    namespace: str
    name: str
    uid: str | None
    check: str
    status: str

    def event_name(self) -> str:
        """A stable, valid Event name: `<object>.<check>.<hash>`."""
        digest = hashlib.sha256(json.dumps(list(self.__dict__.values())).encode()).hexdigest()[:10]
        return f"{self.name[:200]}.{self.check.lower()}.{digest}"


def finding_key(finding: WorkloadFinding, uid: str | None) -> FindingKey | None:
    """The key of a finding that deserves an Event (fail or warn on a namespaced object), else None."""
    if finding.status not in EVENT_STATUSES or not finding.object.namespace:
        return None
    return FindingKey(
        finding.object.kind,
        finding.object.namespace,
        finding.object.name,
        uid,
        finding.id,
        finding.status.value,
    )


def event_body(key: FindingKey, finding: WorkloadFinding, now: dt.datetime) -> dict[str, Any]:
    """The core/v1 Event for a finding on its object."""
    # The message carries object and secret names and API server text: one line, no terminal control.
    message = clean_line(f"{finding.id} {finding.status.value}: {finding.message}")
    involved = {"apiVersion": API_VERSION, "kind": key.kind, "name": key.name, "namespace": key.namespace}
    if key.uid:
        involved["uid"] = key.uid
    stamp = format_time(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": key.event_name(),
            "namespace": key.namespace,
            "labels": {"app.kubernetes.io/managed-by": "nimdoctor"},
        },
        "involvedObject": involved,
        "reason": finding.id,
        "message": message[:MESSAGE_MAX],
        "type": "Normal" if finding.severity is Severity.INFO else "Warning",
        "source": {"component": COMPONENT},
        "reportingComponent": REPORTING_COMPONENT,
        "reportingInstance": socket.gethostname()[:128],
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class EventWriter:
    """Creates Events through the official client; remembers nothing itself (the audit keeps the keys)."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)

    def emit(self, key: FindingKey, finding: WorkloadFinding, now: dt.datetime, *, again: bool) -> bool:
        """Create the Event; on 409 it exists already: refresh it when the finding came back (`again`).

        True when the Event now exists. Failures are logged, never raised: Events are a courtesy.
        """
        from kubernetes.client.rest import ApiException
        from urllib3.exceptions import HTTPError

        body = event_body(key, finding, now)
        try:
            self.core.create_namespaced_event(key.namespace, body, _preload_content=False)
            log.info("event %s on %s %s/%s", finding.id, key.kind, key.namespace, key.name)
            return True
        except ApiException as exc:
            if exc.status != 409:
                log.warning(
                    "cannot create event %s on %s/%s: %s", finding.id, key.namespace, key.name, exc.status
                )
                return False
        except HTTPError as exc:
            log.warning("cannot create event %s: %s", finding.id, type(exc).__name__)
            return False
        if not again:
            return True
        patch = {"lastTimestamp": body["lastTimestamp"], "message": body["message"]}
        try:
            self.core.patch_namespaced_event(
                body["metadata"]["name"], key.namespace, patch, _preload_content=False
            )
        except (ApiException, HTTPError) as exc:
            reason = clean_line(str(exc))  # the API server's text
            log.warning("cannot refresh event %s on %s/%s: %s", finding.id, key.namespace, key.name, reason)
        return True
