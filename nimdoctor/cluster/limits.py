"""What bounds every Kubernetes API call nimdoctor makes: a connect and read timeout on each request, and a
cap on how many pages and items one paginated list may take.

The official client waits forever by default (urllib3 with no timeout): a server that accepts a connection
and never answers hangs the caller. Here every `ApiClient` that `cluster.client` hands out fills in
`TIMEOUT` for a request that names none; watches name their own (the server's watch timeout plus a grace).
A list follows `continue` tokens, which the server controls: a token that never ends would grow the list
without bound, so `paginate` stops at `MAX_ITEMS` items or `MAX_PAGES` pages and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

TIMEOUT = (5.0, 30.0)  # (connect, read) seconds for one request
PAGE_SIZE = 500
# 20,000 NIMServices (issue 22) fit twice over; 5,000 nodes is Kubernetes' largest supported cluster.
MAX_ITEMS = 50_000
MAX_PAGES = 2 * MAX_ITEMS // PAGE_SIZE  # a server may return short pages, not endlessly many


class ListTooLong(Exception):
    """A paginated list passed `MAX_ITEMS` or `MAX_PAGES`: the server keeps sending `continue` tokens."""

    def __init__(self, pages: int, items: int) -> None:
        super().__init__(
            f"the list did not end after {pages} pages and {items} items (limits: {MAX_PAGES} pages, "
            f"{MAX_ITEMS} items); the API server keeps answering with a continue token"
        )


def paginate(fetch: Callable[[str | None], Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """The pages of one list: `fetch(token)` gets a page (token None for the first); raises `ListTooLong`."""
    token: str | None = None
    pages = items = 0
    while True:
        page = fetch(token)
        pages += 1
        listed = page.get("items")
        items += len(listed) if isinstance(listed, list) else 0
        if items > MAX_ITEMS or pages > MAX_PAGES:
            raise ListTooLong(pages, items)
        yield page
        metadata = page.get("metadata")
        token = metadata.get("continue") if isinstance(metadata, Mapping) else None
        if not isinstance(token, str) or not token:
            return


def timed_api_client(configuration: Any, timeout: tuple[float, float] = TIMEOUT) -> Any:
    """A `kubernetes.client.ApiClient` whose requests without a `_request_timeout` get `timeout`.

    Unless `configuration.retries` says otherwise, urllib3 retries a failed connection (three times) but
    never a request whose answer timed out: a hung server would only hang again, and the caller's wait
    would be four timeouts instead of one.
    """
    import urllib3
    from kubernetes import client

    if configuration.retries is None:
        configuration.retries = urllib3.Retry(total=3, read=0, redirect=0)

    class TimedApiClient(client.ApiClient):  # type: ignore[misc]
        def call_api(self, *args: Any, _request_timeout: Any = None, **kwargs: Any) -> Any:
            return super().call_api(*args, _request_timeout=_request_timeout or timeout, **kwargs)

    return TimedApiClient(configuration)
