"""Steady-state memory and CPU per probe cycle of `nimdoctor agent --simulate dgx-h100`, publishing to the
kmock emulator (so the `kubernetes` client is loaded) and scraped every second, read with psutil.

Measured in the same run against `python -c pass` (a bare interpreter) and the same agent with
`--no-publish` (no `kubernetes` import). Also measured: what the HTTP server costs at import
(prometheus_client with uvicorn and httptools, as the agent uses since issue 22, against the standard
library's WSGI server it replaced),
and how many API requests the agent makes per cycle once the report is published (it writes only on change
and on its heartbeat, so it should be none). Targets: RSS under 60 MB, CPU under 50 ms per cycle.

    python bench/bench_agent.py [--cycles N] [--interval SECONDS]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the test harness's emulator

from tests.kube import Emulator

NODE = "bench-node"
TARGET_RSS_MB = 60.0
TARGET_CPU_MS = 50.0
SERVING = re.compile(r"serving /metrics, /healthz and /readyz on [^ ]+:(\d+)")
RUNS = re.compile(r"^nimdoctor_probe_runs_total (\S+)$", re.MULTILINE)


def held_rss_mb(code: str) -> float:
    """RSS of a fresh `python -c CODE` that then waits, read by psutil (a process that exits at once cannot
    be read, and a child's ru_maxrss counts the pages it shared with this process before exec)."""
    proc = subprocess.Popen([sys.executable, "-c", f"{code}; import signal; signal.pause()"])
    try:
        time.sleep(1.0)
        return float(psutil.Process(proc.pid).memory_info().rss) / 2**20
    finally:
        proc.kill()
        proc.wait()


class Agent:
    """A running agent, scraped every second from a thread, with its stderr read for its port."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nimdoctor",
                "agent",
                "--simulate",
                "dgx-h100",
                "--publish-simulated",
                "--listen",
                "127.0.0.1:0",
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.process = psutil.Process(self.proc.pid)
        self.port = self._port()
        self.latest = ""
        self._stop = threading.Event()
        self._scraper = threading.Thread(target=self._scrape, daemon=True)
        self._scraper.start()

    def _port(self) -> int:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            match = SERVING.search(line)
            if match:
                threading.Thread(target=self.proc.stderr.read, daemon=True).start()  # keep the pipe drained
                return int(match.group(1))
        raise RuntimeError("the agent never served")

    def _scrape(self) -> None:
        while not self._stop.wait(1.0):
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as answer:
                self.latest = answer.read().decode()

    def probes(self) -> int:
        match = RUNS.search(self.latest)
        return int(float(match.group(1))) if match else 0

    def wait_probes(self, count: int) -> None:
        while self.probes() < count:
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        self._stop.set()
        self.proc.terminate()
        self.proc.wait(15)


def measure(agent: Agent, cycles: int) -> tuple[float, float, float]:
    """CPU ms per probe cycle, mean and peak RSS (MB) over `cycles` cycles after a warm-up."""
    agent.wait_probes(5)
    start_probes, start_cpu = agent.probes(), agent.cpu_seconds()
    rss = []
    while agent.probes() < start_probes + cycles:
        rss.append(agent.process.memory_info().rss / 2**20)
        time.sleep(0.5)
    probes, cpu = agent.probes() - start_probes, agent.cpu_seconds() - start_cpu
    return cpu / probes * 1000, sum(rss) / len(rss), max(rss)


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()

    bare = held_rss_mb("pass")
    wsgi = held_rss_mb("import prometheus_client, wsgiref.simple_server")
    asgi = held_rss_mb("import prometheus_client, uvicorn, uvicorn.protocols.http.httptools_impl")

    emulator = Emulator()
    emulator.start()
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE, "uid": "bench"}, "status": {}}
    emulator.call(lambda: emulator.handler.objects.__setitem__(("v1/nodes", None, NODE), node))
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: kmock, cluster: {{server: '{emulator.url}'}}}}]\n"
            "users: [{name: bench, user: {}}]\n"
            "contexts: [{name: kmock, context: {cluster: kmock, user: bench}}]\ncurrent-context: kmock\n"
        )
        interval = ["--interval", str(args.interval)]
        publishing = Agent(["--kubeconfig", str(kubeconfig), "--node-name", NODE, *interval])
        publishing.wait_probes(5)
        requests_before = len(emulator.requests())
        cpu, rss_mean, rss_peak = measure(publishing, args.cycles)
        steady_requests = len(emulator.requests()) - requests_before
        publishing.stop()
        quiet = Agent(["--no-publish", *interval])
        quiet_cpu, quiet_rss, _ = measure(quiet, args.cycles)
        quiet.stop()
    emulator.close()

    print(f"{psutil.cpu_count()} CPUs; {args.cycles} cycles of {args.interval:g} s, scraped each second")
    print(f"python -c pass (held open)           RSS {bare:6.1f} MB")
    print(
        f"agent, publishing to the emulator     RSS {rss_mean:6.1f} MB (peak {rss_peak:.1f}, "
        f"{rss_mean / bare:.1f}x bare)  CPU {cpu:5.1f} ms/cycle"
    )
    print(f"agent, --no-publish                   RSS {quiet_rss:6.1f} MB  CPU {quiet_cpu:5.1f} ms/cycle")
    print(
        f"API requests in steady state          {steady_requests} in {args.cycles} cycles (heartbeat aside)"
    )
    print(f"import prometheus_client + wsgiref    RSS {wsgi:6.1f} MB (the agent's server until issue 22)")
    print(f"import prometheus_client + uvicorn    RSS {asgi:6.1f} MB (+{asgi - wsgi:.1f} MB: the agent's)")
    print(
        f"targets: RSS < {TARGET_RSS_MB:g} MB: {'met' if rss_peak < TARGET_RSS_MB else 'MISSED'}; "
        f"CPU < {TARGET_CPU_MS:g} ms/cycle: {'met' if cpu < TARGET_CPU_MS else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
