"""Peak memory of `nimdoctor run --cluster -A` and `nimdoctor audit --once -A` against the kmock emulator
holding N NIMServices, as real processes, their RSS sampled with psutil every 10 ms.

Each namespace holds its NIMCache and its two NGC Secrets, well formed: the fleet is healthy, so the audit
reads and judges everything but records no Event (kmock stores each Event with its history and answers one
in about 40 ms on the sandbox: 48,000 of them would measure the emulator, not nimdoctor).

The baseline, measured in the same run, is the same two commands against a cluster of 100 NIMServices; the
target is the audit pod's memory limit in daemonset/audit/deployment.yaml (issue 22: 20,000 NIMServices within
it).

    python bench/bench_cluster_memory.py [--services 20000] [--namespaces 100]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the test harness's emulator

from tests.kube import Emulator, write_kubeconfig
from tests.workloads.cluster import api_key_secret, declare, nimcache, nimservice, put, registry_secret

DEPLOYMENT = Path(__file__).resolve().parent.parent / "daemonset" / "audit" / "deployment.yaml"
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def audit_limit_mib() -> float:
    """The audit container's memory limit, in MiB."""
    pod = yaml.safe_load(DEPLOYMENT.read_text())["spec"]["template"]["spec"]
    limit = str(pod["containers"][0]["resources"]["limits"]["memory"])
    return int(limit[:-2]) * UNITS[limit[-2:]] / 2**20


def populate(emulator: Emulator, services: int, namespaces: int) -> None:
    """`services` NIMServices over `namespaces` namespaces, each namespace with its cache and Secrets."""
    declare(emulator)
    for n in range(namespaces):
        ns = f"nim-{n:03d}"
        batch = [nimcache("llama-cache"), api_key_secret(), registry_secret()]
        batch += [nimservice(f"llm-{i:05d}") for i in range(n, services, namespaces)]
        for obj in batch:
            obj["metadata"]["namespace"] = ns
        put(emulator, *batch)


def peak_rss_mib(command: list[str]) -> tuple[float, float, int]:
    """(peak RSS in MiB, seconds, exit code) of one nimdoctor process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nimdoctor", *command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    process = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, process.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.01)
    return peak / 2**20, time.perf_counter() - started, proc.returncode


def measure(services: int, namespaces: int) -> dict[str, tuple[float, float, int]]:
    """Peak RSS, time and exit code of each command against a fresh emulator holding `services`."""
    emulator = Emulator()
    emulator.start()
    try:
        populate(emulator, services, namespaces)
        with tempfile.TemporaryDirectory() as tmp:
            config = str(write_kubeconfig(Path(tmp) / "kubeconfig", emulator.url))
            every = ["-A", "--kubeconfig", config]
            return {
                "run --cluster -A": peak_rss_mib(["run", "--cluster", *every]),
                "  ... -o json": peak_rss_mib(["run", "--cluster", "-o", "json", *every]),
                "audit --once -A": peak_rss_mib(["audit", "--once", *every]),
            }
    finally:
        emulator.close()


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=20_000)
    parser.add_argument("--namespaces", type=int, default=100)
    args = parser.parse_args()
    limit = audit_limit_mib()
    baseline = measure(100, min(args.namespaces, 100))
    large = measure(args.services, args.namespaces)
    print(f"{psutil.cpu_count()} CPUs; kmock emulator; audit pod memory limit {limit:g} MiB")
    for name, (peak, seconds, code) in large.items():
        base_peak, base_seconds, _ = baseline[name]
        verdict = "within" if peak < limit else "OVER"
        if code not in (0, 1, 3):  # 4: the command broke; its figure means nothing
            verdict = "NOT MEASURED: the command failed;"
        print(
            f"{name:18} {args.services:>6} NIMServices: peak RSS {peak:6.1f} MiB "
            f"({peak / base_peak:.1f}x the {base_peak:.1f} MiB at 100), {seconds:5.1f} s "
            f"(100: {base_seconds:.1f} s), exit {code}: {verdict} the limit"
        )


if __name__ == "__main__":
    main()
