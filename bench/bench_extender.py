"""Benchmark: the scheduler extender on loopback, as kube-scheduler drives it.

For 1,000, 5,000 and 20,000 cached nodes in 4 shapes, server processes run the stack `nimdoctor extender`
runs (uvicorn, Starlette, msgspec) and this process posts `/filter` in names mode serially over one
keep-alive connection each, as kube-scheduler's serial scheduling loop does. The pod is Llama 3.1 70B on 2
GPUs: it fits half the nodes, so the answer names the other half with their reasons. Servers, side by side,
the requests alternating between them so that other load on the machine falls on all alike:

- null: the same server stack and request decoding, answering every node admitted (the old baseline);
- floor: the same server stack returning a precomputed answer of the same bytes, decoding nothing (the
  fair floor: what any answer costs to receive and send);
- today: the extender without its answer cache (`--answer-cache 0`);
- extender: the extender as shipped, with its answer cache.

Three request streams: `hits` repeats one request (the retries of a pending pod); `replicas` asks for
pods that differ only in name and uid (the replicas of one NIMService) with the same candidates;
`misses` sends a different candidate list every time (one node left out in turn), so nothing is reused.
Printed: p50 and p99 latency, and the ratios to null and to the floor (and to today for the extender).

Run: `python bench/bench_extender.py [--nodes 1000,5000,20000] [--requests 500] [--warmup 100]`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import multiprocessing
import os
import statistics
import time
from multiprocessing.connection import Connection
from typing import Any

import msgspec
from bench_fit import POD  # Llama 3.1 70B on 2 GPUs, as a NIM Operator pod
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from nimdoctor.catalog import load_catalog
from nimdoctor.cluster.nodereport import NodeRecord
from nimdoctor.extender.answers import DEFAULT_MAX_BYTES
from nimdoctor.extender.app import Webhook
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.decide import Decider, Need, Outcome, Question
from nimdoctor.extender.metrics import ExtenderMetrics
from nimdoctor.extender.protocol import Candidates, HostPriority, decode_args, filter_result
from nimdoctor.extender.run import Extender
from nimdoctor.extender.serve import WEBHOOK_LIMITS, Address, Servers, serve
from nimdoctor.placement.claim_specs import ClaimSpec, GpuRequest
from nimdoctor.placement.dra import ClaimLookup
from nimdoctor.report import Capabilities

MIB = 2**20
BASE = {"ready": True, "nofileSoft": 1048576, "nofileUnlimited": False, "migEnabled": False}
SHAPES: list[dict[str, Any]] = [
    {
        "gpuProduct": "H100-SXM",
        "gpuCount": 8,
        "gpuMemoryBytes": 81559 * MIB,
        "maxNvlinkClique": 8,
        "computeCapability": "9.0",
        "virtualization": "none",
    },
    {
        "gpuProduct": "A100-SXM",
        "gpuCount": 8,
        "gpuMemoryBytes": 81920 * MIB,
        "maxNvlinkClique": 8,
        "computeCapability": "8.0",
        "virtualization": "none",
    },
    {
        "gpuProduct": "L40S",
        "gpuCount": 4,
        "gpuMemoryBytes": 46068 * MIB,
        "maxNvlinkClique": 1,
        "computeCapability": "8.9",
        "virtualization": "none",
    },
    {
        "gpuProduct": "L40S",
        "gpuCount": 2,
        "gpuMemoryBytes": 49152 * MIB,
        "maxNvlinkClique": 1,
        "computeCapability": "8.9",
        "virtualization": "vgpu",
    },
]


def names(count: int) -> list[str]:
    return [f"gpu-node-{i:05d}" for i in range(count)]


def cache_of(count: int) -> ReportCache:
    """`count` nodes, shapes in turn, each record decoded on its own (as the watch would hold them)."""
    now = dt.datetime.now(dt.UTC)
    decoder = msgspec.json.Decoder(Capabilities)
    records = []
    for index, name in enumerate(names(count)):
        caps = decoder.decode(msgspec.json.encode({**BASE, **SHAPES[index % len(SHAPES)]}))
        records.append(NodeRecord(name, caps, True, (), now, now))
    cache = ReportCache(900)
    cache.replace(records)
    return cache


class NullAnswers:
    """The baseline: every node admitted, every score 0."""

    def question(self, pod: dict[str, Any]) -> Question:
        return Question(None, None)

    def caution(self, pod: dict[str, Any], need: Need | str | None) -> tuple[str | None, bool]:
        return None, False

    def filter(self, candidates: Candidates, question: Question | None = None) -> Outcome:
        return Outcome(survivors=candidates.names, failed={})

    def prioritize(self, candidates: Candidates, question: Question | None = None) -> list[HostPriority]:
        return [HostPriority(host=name, score=0) for name in candidates.names]


def floor_app(payload: bytes) -> Starlette:
    """The fair floor: read the whole body, answer the precomputed bytes."""

    async def answer(request: Request) -> Response:
        await request.body()
        return Response(payload, media_type="application/json")

    return Starlette(routes=[Route("/filter", answer, methods=["POST"])])


def server_main(kind: str, count: int, pipe: Connection) -> None:
    """The server process: build the cache, serve the webhook until SIGTERM."""
    cache = cache_of(count)
    listen = Address("127.0.0.1", 0).bind()
    if kind == "floor":
        app = floor_app(answer_bytes(cache, body_of(names(count))))
    elif kind == "null":
        app = Webhook(NullAnswers(), cache, ExtenderMetrics(cache)).app()
    else:
        memo = 0 if kind == "today" else DEFAULT_MAX_BYTES
        app = Extender.assemble(cache, load_catalog(), answer_cache_bytes=memo).webhook.app()
    pipe.send(listen.getsockname()[1])
    serve(Servers([(app, listen, WEBHOOK_LIMITS, None)]))


class Server:
    """A server process (`kind` null or extender over `count` nodes) and one keep-alive connection to it."""

    def __init__(self, kind: str, count: int) -> None:
        parent, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=server_main, args=(kind, count, child), daemon=True)
        self.process.start()
        self.connection = http.client.HTTPConnection("127.0.0.1", parent.recv())

    def post(self, body: bytes) -> tuple[float, int]:
        """One POST /filter: seconds until the whole answer is in, and its size in bytes."""
        start = time.perf_counter()
        self.connection.request("POST", "/filter", body=body, headers={"Content-Type": "application/json"})
        response = self.connection.getresponse()
        answer = response.read()
        elapsed = time.perf_counter() - start
        assert response.status == 200, answer[:200]
        return elapsed, len(answer)

    def stop(self) -> None:
        self.connection.close()
        self.process.terminate()  # SIGTERM: uvicorn finishes and exits
        self.process.join(10)


def body_of(candidates: list[str], pod: dict[str, Any] = POD) -> bytes:
    return json.dumps({"Pod": pod, "Nodes": None, "NodeNames": candidates}).encode()


def replica(index: int) -> dict[str, Any]:
    """POD as the `index`th replica of its NIMService: its own name and uid."""
    named = {"name": f"llm-7d9f8-{index:05d}", "uid": f"00000000-0000-0000-0000-{index:012d}"}
    return {**POD, "metadata": {**POD["metadata"], **named}}


def answer_bytes(cache: ReportCache, body: bytes) -> bytes:
    """The extender's encoded filter answer to `body`."""
    candidates = decode_args(body)
    outcome = Decider(cache, load_catalog()).filter(candidates)
    return filter_result(candidates, outcome.survivors, outcome.failed)


def stream(count: int, kind: str, total: int) -> list[bytes]:
    """`total` request bodies: one repeated (hits), one per replica (replicas), or each leaving out
    another node (misses)."""
    every = names(count)
    if kind == "hits":
        return [body_of(every)] * total
    if kind == "replicas":
        return [body_of(every, replica(i)) for i in range(total)]
    return [body_of(every[: i % count] + every[i % count + 1 :]) for i in range(total)]


def measure(servers: dict[str, Server], bodies: list[bytes], warmup: int) -> dict[str, list[float]]:
    """Latencies per server, the requests alternating between them, so that load from anything else on the
    machine falls on all alike."""
    latencies: dict[str, list[float]] = {kind: [] for kind in servers}
    for index, body in enumerate(bodies):
        for kind, server in servers.items():
            elapsed, _ = server.post(body)
            if index >= warmup:
                latencies[kind].append(elapsed)
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def dra_pod(pod: dict[str, Any]) -> dict[str, Any]:
    """`pod` taking its GPUs from a ResourceClaimTemplate `gpu-template` instead of nvidia.com/gpu."""
    container = {**pod["spec"]["containers"][0], "resources": {"claims": [{"name": "gpu"}]}}
    claims = [{"name": "gpu", "resourceClaimTemplateName": "gpu-template"}]
    return {**pod, "spec": {"containers": [container], "resourceClaims": claims}}


def two_gpu_template(kind: str, namespace: str, name: str) -> ClaimSpec | None:
    """A claim lookup that knows one template: 2 GPUs (as POD asks with nvidia.com/gpu)."""
    return ClaimSpec((GpuRequest("gpu", 2),)) if name == "gpu-template" else None


def in_process(
    count: int, rounds: int, pod: dict[str, Any] = POD, claims: ClaimLookup | None = None
) -> tuple[float, float]:
    """Median milliseconds of the filter decision alone, and of decode + decision + encode."""
    cache = cache_of(count)
    decider = Decider(cache, load_catalog(), claims=claims)
    body = json.dumps({"Pod": pod, "Nodes": None, "NodeNames": names(count)}).encode()
    candidates = decode_args(body)
    decide_times, full_times = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        decider.filter(candidates)
        decide_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        parsed = decode_args(body)
        outcome = decider.filter(parsed)
        filter_result(parsed, outcome.survivors, outcome.failed)
        full_times.append(time.perf_counter() - start)
    return statistics.median(decide_times) * 1e3, statistics.median(full_times) * 1e3


def miss_cost(count: int, rounds: int) -> tuple[float, float]:
    """Median microseconds of a miss in process (the whole reply to a body never seen, candidates never
    seen), without and with the answer cache, alternating."""
    cache = cache_of(count)
    webhooks = [
        Extender.assemble(cache, load_catalog(), answer_cache_bytes=size).webhook
        for size in (0, DEFAULT_MAX_BYTES)
    ]
    bodies = stream(count, "misses", rounds)  # distinct bytes objects: no hash cached
    times: list[list[float]] = [[], []]
    for body in bodies:
        for index, webhook in enumerate(webhooks):
            start = time.perf_counter()
            webhook.reply("filter", body)
            times[index].append(time.perf_counter() - start)
    return statistics.median(times[0]) * 1e6, statistics.median(times[1]) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="1000,5000,20000")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    sizes = [int(n) for n in args.nodes.split(",")]
    print(
        f"machine: {os.cpu_count()} CPUs; {len(SHAPES)} node shapes; pod 70B on 2 GPUs (fits half); "
        f"{args.requests} requests per server after {args.warmup} warm-up, serial, alternating"
    )
    print(f"{'nodes':>6} {'stream':<7} {'server':<9} {'p50 ms':>7} {'p99 ms':>7} {'KB':>6}  ratios")
    for count in sizes:
        servers = {kind: Server(kind, count) for kind in ("null", "floor", "today", "extender")}
        try:
            for kind in ("hits", "replicas", "misses"):
                bodies = stream(count, kind, args.warmup + args.requests)
                latencies = measure(servers, bodies, args.warmup)
                p50 = {name: percentile(took, 0.5) for name, took in latencies.items()}
                p99 = {name: percentile(took, 0.99) for name, took in latencies.items()}
                for name in servers:
                    size = servers[name].post(bodies[0])[1] / 2**10
                    ratios = "".join(
                        f"  /{base} p50 {p50[name] / p50[base]:.2f}x p99 {p99[name] / p99[base]:.2f}x"
                        for base in ("null", "floor", "today")
                        if base != name and (base != "today" or name == "extender")
                    )
                    print(
                        f"{count:>6} {kind:<7} {name:<9} {p50[name] * 1e3:7.3f} {p99[name] * 1e3:7.3f} "
                        f"{size:6.1f}{ratios}"
                    )
        finally:
            for server in servers.values():
                server.stop()
    largest = max(sizes)
    decide_ms, full_ms = in_process(largest, 200)
    print(
        f"in process at {largest} nodes, 70B pod (median of 200): filter decision {decide_ms:.3f} ms; "
        f"decode + decision + encode {full_ms:.3f} ms"
    )
    for count in sizes:
        without, with_cache = miss_cost(count, 200)
        print(
            f"in process at {count} nodes, a miss: {with_cache:.0f} us with the answer cache, "
            f"{without:.0f} us without ({with_cache / without:.3f}x)"
        )
    # The same pod with its GPUs from a resource claim: a template of 2 GPUs seen, and one not seen (each
    # node judged with all its GPUs as the upper bound), against the nvidia.com/gpu pod in the same run.
    for label, claims in (("template seen (2 GPUs)", two_gpu_template), ("count unknown", None)):
        dra_ms, dra_full_ms = in_process(largest, 200, dra_pod(POD), claims)
        print(
            f"  DRA pod, {label}: decision {dra_ms:.3f} ms ({dra_ms / decide_ms:.2f}x); "
            f"decode + decision + encode {dra_full_ms:.3f} ms ({dra_full_ms / full_ms:.2f}x)"
        )


if __name__ == "__main__":
    main()
