"""Benchmark: the scheduler extender on loopback, as kube-scheduler drives it.

For 100, 1,000 and 5,000 cached nodes in 4 shapes, a server process runs the extender (uvicorn, Starlette,
msgspec: the stack `nimdoctor extender` runs) and this process posts `/filter` in names mode serially over
one keep-alive connection, as kube-scheduler's serial scheduling loop does. The baseline is a null
extender: the same server stack and request decoding, answering every node admitted. Both run side by side
and the requests alternate between them, so that other load on the machine falls on both alike.
The pod is Llama 3.1 70B on 2 GPUs, which fits about half the nodes, so the answer names the rest with
their reasons. Printed: p50 and p99 latency, requests per second, the ratio to the null extender, and the
in-process filter time at the largest size (decision alone; and decode + decision + encode).

Run: `python bench/bench_extender.py [--nodes 100,1000,5000] [--requests 1000] [--warmup 200]`.
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

from nimdoctor.catalog import load_catalog
from nimdoctor.cluster.nodereport import NodeRecord
from nimdoctor.extender.app import Webhook
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.decide import Decider, Outcome
from nimdoctor.extender.metrics import ExtenderMetrics
from nimdoctor.extender.protocol import Candidates, HostPriority, decode_args, filter_result
from nimdoctor.extender.serve import Address, Servers, serve
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

    def filter(self, candidates: Candidates) -> Outcome:
        return Outcome(survivors=candidates.names, failed={})

    def prioritize(self, candidates: Candidates) -> list[HostPriority]:
        return [HostPriority(host=name, score=0) for name in candidates.names]


def server_main(kind: str, count: int, pipe: Connection) -> None:
    """The server process: build the cache, serve the webhook until SIGTERM."""
    cache = cache_of(count)
    metrics = ExtenderMetrics(cache)
    answers = NullAnswers() if kind == "null" else Decider(cache, load_catalog())
    webhook = Webhook(answers, cache, metrics)
    listen = Address("127.0.0.1", 0).bind()
    pipe.send(listen.getsockname()[1])
    serve(Servers([(webhook.app(), listen, None)]))


class Server:
    """A server process (`kind` null or extender over `count` nodes) and one keep-alive connection to it."""

    def __init__(self, kind: str, count: int) -> None:
        parent, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=server_main, args=(kind, count, child), daemon=True)
        self.process.start()
        self.connection = http.client.HTTPConnection("127.0.0.1", parent.recv())
        self.latencies: list[float] = []
        self.size = 0

    def post(self, body: bytes, record: bool) -> None:
        """One POST /filter; its latency is kept when `record`."""
        start = time.perf_counter()
        self.connection.request("POST", "/filter", body=body, headers={"Content-Type": "application/json"})
        response = self.connection.getresponse()
        answer = response.read()
        elapsed = time.perf_counter() - start
        assert response.status == 200, answer[:200]
        if record:
            self.latencies.append(elapsed)
        self.size = len(answer)

    def stop(self) -> None:
        self.connection.close()
        self.process.terminate()  # SIGTERM: uvicorn finishes and exits
        self.process.join(10)


def measure(count: int, body: bytes, requests: int, warmup: int) -> dict[str, Server]:
    """Both servers side by side, requests alternating between them, so that load from anything else on
    the machine falls on both alike."""
    servers = {kind: Server(kind, count) for kind in ("null", "extender")}
    try:
        for index in range(warmup + requests):
            for server in servers.values():
                server.post(body, record=index >= warmup)
    finally:
        for server in servers.values():
            server.stop()
    return servers


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def in_process(count: int, rounds: int) -> tuple[float, float]:
    """Median milliseconds of the filter decision alone, and of decode + decision + encode."""
    cache = cache_of(count)
    decider = Decider(cache, load_catalog())
    body = json.dumps({"Pod": POD, "Nodes": None, "NodeNames": names(count)}).encode()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="100,1000,5000")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(n) for n in args.nodes.split(",")]
    print(
        f"machine: {os.cpu_count()} CPUs; pod: Llama 3.1 70B, 2 GPUs; {len(SHAPES)} node shapes; "
        f"{args.requests} requests each after {args.warmup} warm-up, serial, alternating between the servers"
    )
    print(f"{'nodes':>6} {'server':<9} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'answer KB':>10}  vs null")
    for count in sizes:
        body = json.dumps({"Pod": POD, "Nodes": None, "NodeNames": names(count)}).encode()
        servers = measure(count, body, args.requests, args.warmup)
        null = servers["null"].latencies
        for kind, server in servers.items():
            took = server.latencies
            p50, p99 = percentile(took, 0.5), percentile(took, 0.99)
            vs = f"  p50 {p50 / percentile(null, 0.5):.2f}x, p99 {p99 / percentile(null, 0.99):.2f}x"
            rate, kib = len(took) / sum(took), server.size / 2**10
            print(
                f"{count:>6} {kind:<9} {p50 * 1e3:8.3f} {p99 * 1e3:8.3f} {rate:8.0f} {kib:10.1f}"
                + ("" if kind == "null" else vs)
            )
    largest = max(sizes)
    decide_ms, full_ms = in_process(largest, 200)
    print(
        f"in process at {largest} nodes (median of 200): filter decision {decide_ms:.3f} ms; "
        f"decode + decision + encode {full_ms:.3f} ms"
    )


if __name__ == "__main__":
    main()
