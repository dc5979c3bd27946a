"""Plain REST calls through the official client's `ApiClient` (its auth, TLS and token refresh), returning
JSON documents.

The generated `CoreV1Api` module alone adds about 22 MB to a process (measured with kubernetes 37), and its
typed models cost CPU on every call; an agent that gets one Node, writes one Node and one custom resource
needs neither. Every failure, whatever layer raised it, becomes one `ApiError` with the HTTP status (0 when
the server did not answer) and the API's own short message, never a response body or a header.
"""

from __future__ import annotations

import json
from typing import Any

from nimdoctor.sanitize import clean_line

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
JSON = "application/json"
MESSAGE_MAX = 200


class ApiError(Exception):
    """A request failed: `status` is the HTTP status, or 0 when the server was unreachable or timed out."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path}: {status or 'no answer'}: {message}")
        self.status = status
        self.message = message


class KubeApi:
    """JSON requests against the API server behind `client` (a `kubernetes.client.ApiClient`)."""

    def __init__(self, client: Any, timeout: tuple[float, float] = (5.0, 15.0)) -> None:
        self.client = client
        self.timeout = timeout  # (connect, read) seconds per request

    def request(
        self, method: str, path: str, body: Any = None, content_type: str | None = None
    ) -> dict[str, Any]:
        """Send one request; the decoded JSON answer, or `ApiError`."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": JSON}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            request = self.client.param_serialize(
                method, path, header_params=headers, body=body, auth_settings=["BearerToken"]
            )
            response = self.client.call_api(*request, _request_timeout=self.timeout)
            data = response.read()
        except ApiException as exc:  # raised by the REST layer itself (e.g. a TLS failure)
            raise ApiError(method, path, exc.status or 0, _short(str(exc.reason))) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ApiError(method, path, 0, _short(f"{type(exc).__name__}: {exc}")) from None
        if not 200 <= response.status <= 299:
            raise ApiError(method, path, response.status, _status_message(data, response.reason))
        try:
            decoded = json.loads(data) if data else {}
        except ValueError:
            raise ApiError(method, path, response.status, "answer is not JSON") from None
        if not isinstance(decoded, dict):
            raise ApiError(method, path, response.status, "answer is not a JSON object")
        return decoded

    def close(self) -> None:
        """Release the connection pool."""
        self.client.close()


def _status_message(data: bytes | None, reason: str | None) -> str:
    """The `message` of a Kubernetes `Status` answer, else the HTTP reason phrase."""
    try:
        status = json.loads(data or b"")
    except ValueError:
        status = None
    if isinstance(status, dict) and isinstance(status.get("message"), str):
        return _short(status["message"])
    return _short(reason or "")


def _short(text: str) -> str:
    """The first line, capped, control characters replaced (Status messages quote names others chose)."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return clean_line(first if len(first) <= MESSAGE_MAX else first[: MESSAGE_MAX - 3] + "...")
