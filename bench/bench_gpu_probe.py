"""Wall time and NVML calls of a full GPU probe of the built-in `dgx-h100`, through the NVML fake.

Measured in the same run, against two baselines: `nvmlInit` + `nvmlShutdown` alone through the fake (the
cost of the binding and fake per probe), and a probe of `no-driver` (worker thread start, a failing init, no
GPUs). Target: the dgx-h100 probe under 50 ms.

    python bench/bench_gpu_probe.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import pynvml

from nimdoctor.probes.gpu import probe_gpu
from nimdoctor.simulation.machine import load_builtin
from nimdoctor.simulation.nvml import simulated_nvml

TARGET_MS = 50.0


def timed(action: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median and best wall time of `action`, in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def init_shutdown() -> None:
    pynvml.nvmlInit()
    pynvml.nvmlShutdown()


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with simulated_nvml(load_builtin("dgx-h100"))() as nvml:
        base_med, base_min = timed(init_shutdown, args.runs)
        probe_med, probe_min = timed(lambda: probe_gpu(nvml), args.runs)
        facts = probe_gpu(nvml)
    with simulated_nvml(load_builtin("no-driver"))() as nvml:
        empty_med, empty_min = timed(lambda: probe_gpu(nvml), args.runs)
    print(f"GPU probe of dgx-h100 through the NVML fake, {args.runs} runs (median / best):")
    print(f"  baseline nvmlInit+nvmlShutdown : {base_med:8.3f} ms / {base_min:8.3f} ms")
    print(f"  baseline probe of no-driver    : {empty_med:8.3f} ms / {empty_min:8.3f} ms")
    print(f"  probe of dgx-h100              : {probe_med:8.3f} ms / {probe_min:8.3f} ms")
    print(f"  NVML calls per dgx-h100 probe  : {facts.calls}")
    print(f"  per call                       : {1000 * probe_med / facts.calls:8.1f} us")
    verdict = "within" if probe_med < TARGET_MS else "OVER"
    print(f"  target {TARGET_MS:.0f} ms                   : {verdict}")


if __name__ == "__main__":
    main()
