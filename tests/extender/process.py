"""`nimdoctor extender` as a real process: started, its announced ports read, stopped by a signal."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ANNOUNCE = re.compile(r"listening: webhook (https?)://127\.0\.0\.1:(\d+) metrics http://127\.0\.0\.1:(\d+)")


class ExtenderProcess:
    """A running `python -m nimdoctor extender ...`, logging to the file `log` (a pipe could fill up)."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nimdoctor", "extender", *args],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self.port = self.metrics_port = 0

    def output(self) -> str:
        """Everything logged so far."""
        return self.log.read_text()

    def wait_listening(self, timeout: float = 30.0) -> ExtenderProcess:
        """Wait for the announcement line; fail with the log if the process exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = ANNOUNCE.search(self.output())
            if found:
                self.port, self.metrics_port = int(found[2]), int(found[3])
                return self
            if self.process.poll() is not None:
                raise AssertionError(f"extender exited {self.process.returncode}:\n{self.output()}")
            time.sleep(0.05)
        raise AssertionError(f"extender did not announce its ports:\n{self.output()}")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send `signum` and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._log_file.close()
