"""Wall time of `nimdoctor lint` on many manifests, with the NIM Operator's schema, CEL and webhook checks
(NIM-OP-*) and without them (the baseline: lint as it was before them), measured in the same run.

The manifests are the NIM Operator samples in tests/fixtures, copied round-robin under distinct names into
one file each (a NIMPipeline counts once however many services it has). Each lint is a fresh process.

    python bench/bench_lint.py [--manifests 500] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
OPERATOR_CHECKS = "NIM-OP-001,NIM-OP-002,NIM-OP-003,NIM-OP-004,NIM-OP-005"


def samples() -> list[dict[str, object]]:
    """Every NIM object of the copied operator samples."""
    found = []
    for path in sorted(FIXTURES.glob("k8s-nim-operator__*.yaml")):
        found += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict) and "spec" in d]
    return found


def write(folder: Path, count: int) -> None:
    """`count` manifests, one object each, named apart so no two collide."""
    pool = samples()
    for number in range(count):
        obj = json.loads(json.dumps(pool[number % len(pool)]))
        obj["metadata"]["name"] = f"{obj['metadata']['name']}-{number}"
        (folder / f"m{number:04d}.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))


def measure(argv: list[str], runs: int) -> tuple[float, float]:
    """Median and best wall time (s) over `runs` fresh processes, after one warm-up."""
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifests", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write(folder, args.manifests)
        lint = [sys.executable, "-m", "nimdoctor", "lint", str(folder), "-o", "json"]
        base_med, base_min = measure([*lint, "--skip", OPERATOR_CHECKS], args.runs)
        full_med, full_min = measure(lint, args.runs)
        only_med, only_min = measure([*lint, "--only", OPERATOR_CHECKS], args.runs)
    print(
        json.dumps(
            {
                "manifests": args.manifests,
                "runs": args.runs,
                "baselineWithoutOperatorChecksS": {"median": round(base_med, 3), "best": round(base_min, 3)},
                "withOperatorChecksS": {"median": round(full_med, 3), "best": round(full_min, 3)},
                "operatorChecksOnlyS": {"median": round(only_med, 3), "best": round(only_min, 3)},
                "ratioMedian": round(full_med / base_med, 2),
                "ratioBest": round(full_min / base_min, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
