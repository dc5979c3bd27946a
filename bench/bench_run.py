"""Wall time and peak memory of `nimdoctor run -o json` (runtime checks only) against `python -c pass`.

Both are measured in the same run, as fresh processes, so the ratio says what nimdoctor adds to a bare
interpreter start. Also reports whether `kubernetes` or `pynvml` was imported (neither should be).

    python bench/bench_run.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNTIME_ONLY = "NIM-RT-001,NIM-RT-002,NIM-RT-003"
# Runs nimdoctor in-process, then reports which heavy modules it loaded.
PROBE_IMPORTS = (
    "import sys, runpy\n"
    "sys.argv = ['nimdoctor', 'run', '-o', 'json', '--only', '{only}']\n"
    "try:\n    runpy.run_module('nimdoctor', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "heavy = ('kubernetes', 'pynvml', 'rich')\n"
    "print('IMPORTED', sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
)


# pip compiles bytecode when it installs a wheel; a process that may not write it (PYTHONDONTWRITEBYTECODE,
# set on some build machines) recompiles every module of a source checkout on each start instead.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(argv: list[str], runs: int) -> tuple[float, float, float]:
    """Median and best wall time (ms) over `runs` fresh processes (after one warm-up that writes the
    bytecode cache), and peak RSS (MiB) of the largest."""
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=ENV)
    times = []
    peak = 0.0
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=ENV)
        times.append((time.perf_counter() - start) * 1000)
        # ru_maxrss of children is the largest child so far (KiB on Linux).
        peak = max(peak, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024)
    return statistics.median(times), min(times), peak


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env_root = Path(os.environ.get("NIMDOCTOR_HOST_ROOT", "/"))
    # The baseline first, so its peak RSS is not masked by nimdoctor's larger child.
    base_med, base_min, base_rss = measure([sys.executable, "-c", "pass"], args.runs)
    # What the libraries a diagnosis needs cost to import, before nimdoctor does anything.
    deps_med, deps_min, _ = measure([sys.executable, "-c", "import click, msgspec, yaml"], args.runs)
    run_argv = [sys.executable, "-m", "nimdoctor", "run", "-o", "json", "--only", RUNTIME_ONLY]
    run_med, run_min, run_rss = measure(run_argv, args.runs)
    imported = (
        subprocess.run(
            [sys.executable, "-c", PROBE_IMPORTS.format(only=RUNTIME_ONLY)],
            capture_output=True,
            text=True,
            check=False,
        )
        .stderr.split("IMPORTED", 1)[-1]
        .strip()
    )
    print(
        json.dumps(
            {
                "hostRoot": str(env_root),
                "runs": args.runs,
                "baseline_python_c_pass": {"medianMs": round(base_med, 1), "minMs": round(base_min, 1)},
                "baseline_import_click_msgspec_yaml": {
                    "medianMs": round(deps_med, 1),
                    "minMs": round(deps_min, 1),
                },
                "nimdoctor_run_json_runtime_only": {
                    "medianMs": round(run_med, 1),
                    "minMs": round(run_min, 1),
                },
                "ratioMedianToPythonPass": round(run_med / base_med, 2),
                "ratioMedianToDependencyImports": round(run_med / deps_med, 2),
                "peakRssMiB": {"baseline": round(base_rss, 1), "nimdoctorRun": round(run_rss, 1)},
                "heavyModulesImported": imported,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
