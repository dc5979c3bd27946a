"""Benchmark: the scheduler extender on loopback, as kube-scheduler drives it.

For 100, 1,000 and 5,000 cached nodes in 4 shapes, a server process runs the extender (uvicorn, Starlette,
msgspec: the stack `nimdoctor extender` runs) and this process posts `/filter` in names mode serially over
one keep-alive connection, as kube-scheduler's serial scheduling loop does. The baseline is a null
extender: the same server stack and request decoding, answering every node admitted. Both run side by side
and the requests alternate between them, so that other load on the machine falls on both alike.

Two pods: Llama 3.1 70B on 2 GPUs fits half the nodes, so the answer names the other half with their
reasons; Llama 3.1 8B on 1 GPU fits every node. Printed: p50 and p99 latency, requests per second, the
ratio to the null extender, and the in-process filter time at the largest size (the decision alone; and
decode + decision + encode).

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


def with_model(image: str, gpus: int) -> dict[str, Any]:
    """`POD` serving another model on another GPU count."""
    container = {
        **POD["spec"]["containers"][0],
        "image": image,
        "resources": {"limits": {"nvidia.com/gpu": gpus}},
    }
    return {**POD, "spec": {"containers": [container]}}


# The 70B pod fits the 8-GPU shapes and no L40S: half the nodes are named with a reason. The 8B pod fits all.
PODS = {
    "70B, 2 GPUs (fits 1/2)": POD,
    "8B, 1 GPU (fits all)": with_model("nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3", 1),
}


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
    serve(Servers([(webhook.app(), listen, WEBHOOK_LIMITS, None)]))


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


def measure(servers: dict[str, Server], body: bytes, requests: int, warmup: int) -> dict[str, list[float]]:
    """Latencies per server, the requests alternating between them, so that load from anything else on the
    machine falls on both alike."""
    latencies: dict[str, list[float]] = {kind: [] for kind in servers}
    for index in range(warmup + requests):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="100,1000,5000")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(n) for n in args.nodes.split(",")]
    print(
        f"machine: {os.cpu_count()} CPUs; {len(SHAPES)} node shapes; {args.requests} requests each after "
        f"{args.warmup} warm-up, serial, alternating between the servers"
    )
    print(
        f"{'nodes':>6} {'pod':<22} {'server':<9} {'p50 ms':>7} {'p99 ms':>7} {'req/s':>6} {'KB':>6}  vs null"
    )
    for count in sizes:
        servers = {kind: Server(kind, count) for kind in ("null", "extender")}
        try:
            for label, pod in PODS.items():
                body = json.dumps({"Pod": pod, "Nodes": None, "NodeNames": names(count)}).encode()
                latencies = measure(servers, body, args.requests, args.warmup)
                null = latencies["null"]
                for kind, took in latencies.items():
                    p50, p99 = percentile(took, 0.5), percentile(took, 0.99)
                    size = servers[kind].post(body)[1] / 2**10
                    vs = f"  p50 {p50 / percentile(null, 0.5):.2f}x, p99 {p99 / percentile(null, 0.99):.2f}x"
                    print(
                        f"{count:>6} {label:<22} {kind:<9} {p50 * 1e3:7.3f} {p99 * 1e3:7.3f}"
                        f" {len(took) / sum(took):6.0f} {size:6.1f}" + ("" if kind == "null" else vs)
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
