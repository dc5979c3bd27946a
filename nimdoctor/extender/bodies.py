"""Request bodies in memory, bounded however many clients send at once.

`BodyBuffers.read` buffers a body only while it holds one of `slots` slots; a request without a slot waits
(the caller bounds the wait with its body timeout) while uvicorn's flow control stops reading its socket past
64 KiB. So the bodies held at once are at most `slots` x the cap, plus about 64 KiB and one socket read per
waiting connection. `held`, `peak` and `waiting` count what is buffered now, the most ever buffered at once,
and the requests waiting for a slot: what docs/hardening.md's figure and its test read.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request

# At most this many bodies are buffered at once: 4 x the 64 MiB cap and their decoding fit the sidecar's
# 1 GiB limit whatever the number of connections (docs/hardening.md).
BODY_SLOTS = 4


class BodyTooLarge(Exception):
    """A body over the cap: declared so, or grown past it while arriving."""


class BodyBuffers:
    """At most `slots` request bodies buffered at once, each at most `limit` bytes (see the module)."""

    def __init__(self, slots: int = BODY_SLOTS) -> None:
        self.slots = slots
        self.held = 0  # bytes of bodies being buffered now
        self.peak = 0  # the most bytes ever buffered at once
        self.waiting = 0  # requests waiting for a slot
        self._free = asyncio.Semaphore(slots)

    async def read(self, request: Request, limit: int) -> bytes:
        """The whole body, read once a slot is free; raises `BodyTooLarge` past `limit` bytes."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge
        self.waiting += 1
        try:
            await self._free.acquire()
        finally:
            self.waiting -= 1
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                if size + len(chunk) > limit:
                    raise BodyTooLarge
                size += len(chunk)
                self.held += len(chunk)
                self.peak = max(self.peak, self.held)
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            self.held -= size
            self._free.release()
