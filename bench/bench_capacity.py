"""`nimdoctor capacity` over 5,000 node reports and 50,000 pods: wall time and peak memory.

The fleet: 5,000 `Report` files (one per node, as `nimdoctor run -o json` writes them and the extender's
`--reports` reads them) of five built-in machine shapes diagnosed through the NVML fake, and a
`kubectl get pods -A -o json` file of 50,000 pods bound across them (a tenth ended). Measured as a real
process (`python -m nimdoctor capacity ... -o json`): wall time and peak RSS (polled), beside the same
command over one report and no pods (start-up and imports: the baseline), in the same run. Then, in this
process, the computation alone (`capacity.capacity` over the loaded fleet): wall time and the peak of
Python allocations (tracemalloc). Targets: under 2 s and 200 MB for the whole command.

    python bench/bench_capacity.py [--nodes N] [--pods N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import msgspec
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nimdoctor.capacity import capacity
from nimdoctor.capacity.sources import offline_fleet
from nimdoctor.catalog import load_catalog
from nimdoctor.placement import ModelRequest
from tests.capacity.fleet import LLAMA_70B, machine, report

SHAPES = ("dgx-h100", "h100-pcie-nvlink-pairs", "l40s-4x", "l40s-vgpu-2x", "a100-mig")
TARGET_S = 2.0
TARGET_MB = 200.0


def write_fleet(directory: Path, nodes: int, pods: int) -> tuple[Path, Path]:
    """`nodes` report files and a pods file of `pods` pods; returns (reports dir, pods file)."""
    reports = directory / "reports"
    reports.mkdir()
    shapes = {}
    for shape in SHAPES:
        encoded = msgspec.json.encode(report("NODE-NAME", machine(shape)))
        gpus = json.loads(encoded)["capabilities"].get("gpuCount", 0)
        shapes[shape] = (encoded, gpus)
    names = []
    for i in range(nodes):
        shape = SHAPES[i % len(SHAPES)]
        name = f"node-{i:05d}"
        encoded, gpus = shapes[shape]
        (reports / f"{name}.json").write_bytes(encoded.replace(b'"NODE-NAME"', f'"{name}"'.encode()))
        names.append((name, gpus))
    items = []
    for i in range(pods):
        name, gpus = names[i % len(names)]
        phase = "Succeeded" if i % 10 == 0 else "Running"
        items.append(
            {
                "metadata": {"name": f"nim-{i}", "namespace": f"team-{i % 50}", "labels": {"app": "nim"}},
                "spec": {
                    "nodeName": name,
                    "containers": [
                        {
                            "name": "nim",
                            "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8",
                            "resources": {"limits": {"nvidia.com/gpu": 1 if gpus else 0, "cpu": "8"}},
                        }
                    ],
                },
                "status": {"phase": phase},
            }
        )
    pods_file = directory / "pods.json"
    pods_file.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return reports, pods_file


def run(args: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system: what a busy shared machine inflates less) and peak RSS
    (MiB, polled with psutil every 5 ms) of `python -m nimdoctor capacity ARGS` as a child process (a
    child's own ru_maxrss would count pages it shared with this one)."""
    command = [sys.executable, "-m", "nimdoctor", "capacity", "--model", LLAMA_70B, *args]
    command += ["--trust-simulated", "-o", "json"]  # the fleet is simulated machines' reports
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = psutil.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, proc.memory_info().rss)
        time.sleep(0.005)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    assert proc.returncode in (0, 1, 3), proc.stderr.read() if proc.stderr else ""
    return wall, cpu, peak / 2**20


def main() -> None:
    """Build the fleet, run the command over it and over one report, then time the computation alone."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=50000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        reports, pods = write_fleet(Path(tmp), options.nodes, options.pods)
        one = Path(tmp) / "one"
        one.mkdir()
        first = sorted(reports.iterdir())[0]
        (one / first.name).write_bytes(first.read_bytes())
        base_wall, base_cpu, base_rss = run(["--reports", str(one)])
        wall, cpu, rss = run(["--reports", str(reports), "--pods", str(pods)])
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(
            f"baseline (1 report, no pods): {base_wall:.2f} s wall, {base_cpu:.2f} s CPU, "
            f"peak RSS {base_rss:.0f} MiB"
        )
        print(
            f"capacity over {options.nodes} reports and {options.pods} pods: {wall:.2f} s wall, "
            f"{cpu:.2f} s CPU ({wall / base_wall:.1f}x the baseline's wall), peak RSS {rss:.0f} MiB; "
            f"targets {TARGET_S:g} s, {TARGET_MB:g} MB"
        )
        catalog = load_catalog()
        request = ModelRequest(model=LLAMA_70B)
        start = time.perf_counter()
        fleet = offline_fleet(reports, pods, trust_simulated=True)
        loaded = time.perf_counter() - start
        tracemalloc.start()
        start = time.perf_counter()
        document = capacity(fleet, request, catalog)
        computed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"in process: loading {loaded:.2f} s; computing {computed:.3f} s, peak Python allocations "
            f"{peak / 2**20:.1f} MiB; {document.replicas} replicas"
        )


if __name__ == "__main__":
    main()
