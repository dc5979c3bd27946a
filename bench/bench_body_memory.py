"""Peak memory of the extender while clients upload maximum-size bodies at once, as a real process (its RSS
sampled with psutil every 5 ms), against the same process idle and taking one such body: the figure behind
docs/hardening.md's "four bodies at once".

Each body is a valid ExtenderArgs padded with leading whitespace to `--max-body` (64 MiB): it measures what
buffering costs, not the decoding of a 64 MiB node list. Every client sends its headers and half its body, and
holds there for a few seconds (the extender has four bodies in memory, the other clients wait unread), then
sends the rest.

    python bench/bench_body_memory.py [--clients 8] [--hold 3]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

MAX_BODY = 64 * 2**20
POD = b'{"metadata": {"name": "p", "namespace": "n"}, "spec": {"containers": []}}'
ARGS = b'{"Pod": ' + POD + b', "NodeNames": ["dgx"]}'
BODY = memoryview(b" " * (MAX_BODY - len(ARGS)) + ARGS)
HEAD = f"POST /filter HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY}\r\n\r\n".encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(reports: Path) -> tuple[psutil.Popen, int]:
    port, metrics = free_port(), free_port()
    command = [sys.executable, "-m", "nimdoctor", "extender", "--reports", str(reports), "--trust-simulated"]
    command += ["--listen", f"127.0.0.1:{port}", "--metrics-listen", f"127.0.0.1:{metrics}"]
    proc = psutil.Popen(command, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return proc, port
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the extender did not become ready")


def upload(port: int, go: threading.Event, statuses: list[int]) -> None:
    """One client: headers and half the body, wait for `go`, the rest, then the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(HEAD)
        sock.sendall(BODY[: MAX_BODY // 2])  # blocks while the extender leaves this body unread
        go.wait()
        sock.sendall(BODY[MAX_BODY // 2 :])
        response = http.client.HTTPResponse(sock)
        response.begin()
        response.read()
        statuses.append(response.status)


def peak_rss(proc: psutil.Popen, clients: int, port: int, hold: float) -> tuple[float, list[int]]:
    """The extender's peak RSS (MiB) while `clients` upload at once, holding half-sent for `hold` seconds."""
    go = threading.Event()
    statuses: list[int] = []
    threads = [threading.Thread(target=upload, args=(port, go, statuses)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    peak = 0
    release = time.monotonic() + hold
    while any(thread.is_alive() for thread in threads):
        peak = max(peak, proc.memory_info().rss)
        if not go.is_set() and time.monotonic() > release:
            go.set()
        time.sleep(0.005)
    return peak / 2**20, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--hold", type=float, default=3.0)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        reports = Path(tmp) / "dgx.json"
        run = [sys.executable, "-m", "nimdoctor", "run", "--simulate", "dgx-h100", "--node-name", "dgx", "-o"]
        reports.write_bytes(subprocess.run([*run, "json"], capture_output=True, check=False).stdout)
        proc, port = start(reports)
        try:
            idle = proc.memory_info().rss / 2**20
            one, one_status = peak_rss(proc, 1, port, options.hold)
            many, statuses = peak_rss(proc, options.clients, port, options.hold)
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"extender idle: RSS {idle:.0f} MiB")
    print(
        f"1 client, one {MAX_BODY // 2**20} MiB body: peak RSS {one:.0f} MiB (+{one - idle:.0f}); "
        f"answer {one_status}"
    )
    print(
        f"{options.clients} clients at once, {MAX_BODY // 2**20} MiB each: peak RSS {many:.0f} MiB "
        f"(+{many - idle:.0f}, {(many - idle) / max(one - idle, 1):.1f}x one body's growth); "
        f"answers {sorted(statuses)}"
    )


if __name__ == "__main__":
    main()
