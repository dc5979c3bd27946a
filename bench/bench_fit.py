"""Benchmark: `fit` over 5,000 node capability records for one requirement, in process.

The scheduler extender calls `fit` for every candidate node on the hot path. Nodes come in a few shapes; the
records here are decoded one by one from JSON (distinct objects, as the extender's NodeReport cache holds
them), in seven shapes (one with MIG devices) and two driver versions. The requirement is a 70B pod with
NIM's own precision choice, so each shape also settles fp8 or bf16, the engine (TensorRT-LLM where NVIDIA
ships one, else vLLM) and the context it serves. Printed per node, best of several rounds:

- bare loop: iterating the records and reading one field (the floor any per-node work sits on),
- uncached: `evaluate` on every node (the rules run each time),
- fit: `fit(caps, requirement, catalog)` per node with a cold memo (a fresh catalog each round),
- fit_nodes: the batched call, cold memo,
- fit, warm: `fit` again with the memo filled by the previous pass.

Run: `python bench/bench_fit.py [--nodes 5000] [--rounds 7]`.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import Any

import msgspec

from nimdoctor.catalog import Catalog, load_catalog
from nimdoctor.placement import evaluate, fit, fit_nodes, requirement_from_pod
from nimdoctor.report import Capabilities, Requirement

MIB = 2**20
H100 = {
    "gpuProduct": "H100-SXM",
    "gpuCount": 8,
    "gpuMemoryBytes": 81559 * MIB,
    "maxNvlinkClique": 8,
    "computeCapability": "9.0",
}
# (weight in the mix, capabilities as the agent publishes them)
SHAPES: list[tuple[int, dict[str, Any]]] = [
    (40, H100),
    (
        20,
        {
            "gpuProduct": "A100-SXM",
            "gpuCount": 8,
            "gpuMemoryBytes": 81920 * MIB,
            "maxNvlinkClique": 8,
            "computeCapability": "8.0",
        },
    ),
    (
        15,
        {
            "gpuProduct": "L40S",
            "gpuCount": 4,
            "gpuMemoryBytes": 46068 * MIB,
            "maxNvlinkClique": 1,
            "computeCapability": "8.9",
        },
    ),
    (
        10,
        {
            "gpuProduct": "L40S",
            "gpuCount": 2,
            "gpuMemoryBytes": 49152 * MIB,
            "maxNvlinkClique": 1,
            "computeCapability": "8.9",
            "virtualization": "vgpu",
        },
    ),
    (
        10,
        {
            "gpuProduct": "H100-PCIE",
            "gpuCount": 4,
            "gpuMemoryBytes": 81559 * MIB,
            "maxNvlinkClique": 2,
            "computeCapability": "9.0",
        },
    ),
    (5, {**H100, "nofileSoft": 1024}),
    (
        5,
        {
            "gpuProduct": "A100-PCIE",
            "gpuCount": 2,
            "gpuMemoryBytes": 81920 * MIB,
            "maxNvlinkClique": 1,
            "computeCapability": "8.0",
            "migEnabled": True,
            "migSlices": [
                {"profile": "1g.10gb", "memoryBytes": 9856 * MIB, "count": 4},
                {"profile": "3g.40gb", "memoryBytes": 40192 * MIB, "count": 2},
            ],
        },
    ),
]
POD: dict[str, Any] = {
    "metadata": {
        "name": "llm-0",
        "namespace": "nim",
        "labels": {
            "app.kubernetes.io/managed-by": "k8s-nim-operator",
            "app.kubernetes.io/part-of": "nim-service",
        },
    },
    "spec": {
        "containers": [
            {
                "name": "llm-ctr",
                "image": "nvcr.io/nim/meta/llama-3.1-70b-instruct:1.3.3",
                "resources": {"limits": {"nvidia.com/gpu": 2}},
            }
        ]
    },
}


def records(count: int, seed: int = 4) -> list[Capabilities]:
    """`count` capability records drawn from SHAPES, each decoded from its own JSON document."""
    rng = random.Random(seed)
    weights = [w for w, _ in SHAPES]
    decoder = msgspec.json.Decoder(Capabilities)
    result = []
    for _ in range(count):
        shape = rng.choices([s for _, s in SHAPES], weights)[0]
        doc = {
            "ready": True,
            "nofileSoft": 1048576,
            "nofileUnlimited": False,
            "virtualization": "none",
            "migEnabled": False,
            "driverVersion": rng.choice(["550.54.15", "535.161.08"]),
            **shape,
        }
        result.append(decoder.decode(msgspec.json.encode(doc)))
    return result


def best_per_node(run: Callable[[Catalog], object], nodes: int, rounds: int, fresh: bool) -> float:
    """Best wall time of `run` over `rounds`, in microseconds per node; `fresh`: a new catalog (cold memo)."""
    shared = load_catalog()
    best = float("inf")
    for _ in range(rounds):
        catalog = load_catalog() if fresh else shared
        start = time.perf_counter_ns()
        run(catalog)
        best = min(best, time.perf_counter_ns() - start)
    return best / 1e3 / nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    nodes = records(args.nodes)
    requirement: Requirement = requirement_from_pod(POD, load_catalog())

    def bare(_: Catalog) -> object:
        return [c.gpu_count for c in nodes]

    def uncached(catalog: Catalog) -> object:
        return [evaluate(c, requirement, catalog) for c in nodes]

    def per_node(catalog: Catalog) -> object:
        return [fit(c, requirement, catalog) for c in nodes]

    def batched(catalog: Catalog) -> object:
        return fit_nodes(nodes, requirement, catalog)

    shapes = len({msgspec.structs.replace(c, driver_version=msgspec.UNSET) for c in nodes})
    verdicts = fit_nodes(nodes, requirement, load_catalog())
    print(
        f"{len(nodes)} nodes in {shapes} shapes; requirement: {requirement.model} TP "
        f"{requirement.tensor_parallel}, precision {requirement.precision_source} (decided per node); "
        f"fits on {sum(v.fits is True for v in verdicts)} nodes"
    )
    rows = [
        ("bare loop (baseline)", bare, False),
        ("uncached evaluate (baseline)", uncached, False),
        ("fit, cold memo", per_node, True),
        ("fit_nodes, cold memo", batched, True),
        ("fit, warm memo", per_node, False),
    ]
    for label, run, fresh in rows:
        print(f"{label:<30} {best_per_node(run, len(nodes), args.rounds, fresh):8.3f} us/node")


if __name__ == "__main__":
    main()
