"""The extender's HTTP surface, as Starlette apps.

The webhook app (on loopback, beside kube-scheduler): `POST /filter`, `POST /prioritize`, `GET /healthz`,
`GET /readyz`, `GET /metrics`. The metrics app (the second socket, for Prometheus and the kubelet's probes):
`GET /metrics`, `/healthz`, `/readyz`.

Answers: 200 with the protocol's JSON; 400 for a body that is not an `ExtenderArgs` (the JSON body names the
problem); 413 past `max_body` bytes; 408 when a body does not arrive within `READ_TIMEOUT`; 503 from /filter
and /prioritize until the report cache has synced (with `ignorable: false` the scheduler retries the pod
later, instead of the extender rejecting every node for want of reports). Nothing a client sends makes a 500:
a pod whose fields cannot be read is rejected on every node, naming the field. Any unexpected exception is a
bug: it is answered 500, counted in the request failures and `Faults`, and logged once per cause per minute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from nimdoctor.extender.answers import NOTHING, AnswerCache, Tally, alike, exact
from nimdoctor.extender.bodies import BodyBuffers, BodyTooLarge
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.decide import Need, Outcome, Question
from nimdoctor.extender.faults import Faults
from nimdoctor.extender.metrics import ExtenderMetrics
from nimdoctor.extender.protocol import (
    Candidates,
    ErrorBody,
    Head,
    HostPriority,
    ProtocolError,
    candidates,
    decode_args,
    decode_head,
    encode,
    filter_result,
)

JSON = "application/json"
MAX_BODY = 64 * 2**20
READ_TIMEOUT = 30.0  # seconds for a whole body to arrive; kube-scheduler sends it at once
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


class Answers(Protocol):
    """What answers the two verbs (the `Decider`; a benchmark's null extender)."""

    def question(self, pod: dict[str, Any]) -> Question:
        """What the answers about `pod` depend on."""
        ...

    def caution(self, pod: dict[str, Any], need: Need | str | None) -> tuple[str | None, bool]:
        """What a pod served a kept answer still logs; its claims mode and unevaluable flag."""
        ...

    def filter(self, candidates: Candidates, question: Question | None = None) -> Outcome:
        """The filter decision."""
        ...

    def prioritize(self, candidates: Candidates, question: Question | None = None) -> list[HostPriority]:
        """The node scores."""
        ...


# Computes one verb's encoded answer and what it counts in the metrics (given the pod's question, if known).
Responder = Callable[[Candidates, Question | None], tuple[bytes, Tally]]


_T = TypeVar("_T")


def _error(status: int, message: str, close: bool = False) -> Response:
    headers = {"connection": "close"} if close else None
    return Response(encode(ErrorBody(error=message)), status, headers, media_type=JSON)


class Webhook:
    """The routes' state: what answers, the cache whose sync gates answering, the metrics, the body cap."""

    def __init__(
        self,
        answers: Answers,
        cache: ReportCache,
        metrics: ExtenderMetrics,
        *,
        max_body: int = MAX_BODY,
        read_timeout: float = READ_TIMEOUT,
        healthy: Callable[[], bool] = lambda: True,
        faults: Faults | None = None,
        memo: AnswerCache | None = None,
    ) -> None:
        self.answers = answers
        self.faults = faults or Faults()
        self.memo = memo
        self.cache = cache
        self.metrics = metrics
        self.max_body = max_body
        self.read_timeout = read_timeout
        self.healthy = healthy
        self.bodies = BodyBuffers()  # at most 4 buffered at once; the others wait inside `read_timeout`

    async def _answer(self, request: Request, verb: str) -> Response:
        started = time.perf_counter()
        response = await self._respond(request, verb)
        self.metrics.observe(verb, time.perf_counter() - started, response.status_code == 200)
        return response

    async def _respond(self, request: Request, verb: str) -> Response:
        try:
            async with asyncio.timeout(self.read_timeout):
                body = await self.bodies.read(request, self.max_body)
        except BodyTooLarge:
            return _error(413, f"request body larger than --max-body ({self.max_body} bytes)", close=True)
        except TimeoutError:
            return _error(408, f"request body not received within {self.read_timeout:g} s", close=True)
        except ClientDisconnect:
            return _error(400, "the client went away before sending the whole body", close=True)
        if not self.cache.synced:
            return _error(503, "the node report cache has not synced yet")
        return self.reply(verb, body)

    def reply(self, verb: str, body: bytes) -> Response:
        """The answer to a whole request body for `verb` (filter, prioritize): kept (for exactly this body,
        or for a replica alike), else computed."""
        respond = self._filter if verb == "filter" else self._prioritize
        memo = self.memo
        if memo is None:
            return self._served(self._guarded(verb, lambda: respond(decode_args(body), None)))
        whole = exact(verb, body)
        kept, seen, state = memo.get(whole)
        if kept is not None:  # the same request, nothing changed since: the same answer
            return self._served((kept.payload, kept.tally))
        asked = self._guarded(verb, lambda: self._question(body))
        if isinstance(asked, Response):
            return asked
        head, question = asked
        key = alike(verb, question.key, head.nodes, head.node_names)
        kept = memo.get_alike(key)
        if kept is None:
            answer = self._guarded(verb, lambda: respond(candidates(head), question))
            if isinstance(answer, Response):
                return answer
            memo.put(key, *answer, state, trial=True)
        else:  # a replica's: the same answer, and the pod's own log line as if computed
            self.answers.caution(head.pod, question.need)
            answer = (kept.payload, kept.tally)
        if seen:
            memo.put(whole, *answer, state)
        return self._served(answer)

    def _question(self, body: bytes) -> tuple[Head, Question]:
        head = decode_head(body)
        return head, self.answers.question(head.pod)

    def _guarded(self, verb: str, compute: Callable[[], _T]) -> _T | Response:
        """What `compute` returns, or the error answer: 400 naming what cannot be read, 500 for a bug
        (counted and logged, never a dropped connection)."""
        try:
            return compute()
        except ProtocolError as exc:
            return _error(400, str(exc))
        except Exception as exc:
            self.faults.record(verb, exc)
            return _error(500, "internal error in the nimdoctor extender; see its log")

    def _served(self, answer: tuple[bytes, Tally] | Response) -> Response:
        """The response to an answer, counted in the metrics."""
        if isinstance(answer, Response):
            return answer
        self.metrics.count_answer(answer[1])
        return Response(answer[0], media_type=JSON)

    def _filter(self, candidates: Candidates, question: Question | None) -> tuple[bytes, Tally]:
        outcome = self.answers.filter(candidates, question)
        tally = Tally(outcome.rejected_by_check, outcome.claims, outcome.unevaluable)
        return filter_result(candidates, outcome.survivors, outcome.failed), tally

    def _prioritize(self, candidates: Candidates, question: Question | None) -> tuple[bytes, Tally]:
        return encode(self.answers.prioritize(candidates, question)), NOTHING

    async def filter(self, request: Request) -> Response:
        """POST /filter."""
        return await self._answer(request, "filter")

    async def prioritize(self, request: Request) -> Response:
        """POST /prioritize."""
        return await self._answer(request, "prioritize")

    async def healthz(self, request: Request) -> Response:
        """Alive: the process answers and the report watch is running."""
        if self.healthy():
            return PlainTextResponse("ok")
        return PlainTextResponse("the node report watch has stopped", 503)

    async def readyz(self, request: Request) -> Response:
        """Ready once the report cache has synced."""
        if self.cache.synced:
            return PlainTextResponse("ok")
        return PlainTextResponse("the node report cache has not synced yet", 503)

    async def metrics_route(self, request: Request) -> Response:
        """GET /metrics."""
        return Response(self.metrics.exposition(), media_type=PROMETHEUS)

    def _health_routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics_route, methods=["GET"]),
        ]

    def app(self) -> Starlette:
        """The webhook app: the two verbs plus health and metrics."""
        verbs = [
            Route("/filter", self.filter, methods=["POST"]),
            Route("/prioritize", self.prioritize, methods=["POST"]),
        ]
        return Starlette(routes=verbs + self._health_routes())

    def metrics_app(self) -> Starlette:
        """The second socket's app: health and metrics only."""
        return Starlette(routes=self._health_routes())
