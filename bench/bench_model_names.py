"""Benchmark: what resolving a pod's model name costs, by kind of name.

The extender reads every pod's model name on each filter and prioritize request. A catalog name is one dict
lookup; a name the catalog does not know is also checked for a near miss (a typo of a catalog name) before it
is sized from its text. Printed per call, best of several rounds, with the ratio to a catalog name's lookup:

- catalog name: `resolve` of a name the catalog knows (the baseline),
- unknown name: `resolve` of a fine-tune's name that is no near miss (sized from its name),
- near miss: `near_misses` of a one-letter typo (the check that refuses it).

Run: `python bench/bench_model_names.py [--calls 2000] [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from nimdoctor.catalog import load_catalog
from nimdoctor.placement.models import near_misses, resolve


def best_per_call(work: Callable[[], object], calls: int, rounds: int) -> float:
    """The fastest round's seconds per call."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            work()
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    catalog = load_catalog()
    cases = {
        "catalog name": lambda: resolve(["nvcr.io/nim/meta/llama-3.1-70b-instruct:1.3.3"], catalog),
        "unknown name": lambda: resolve(["nvcr.io/nim/acme/llama-3.1-70b-custom:1.0"], catalog),
        "near miss": lambda: near_misses("nvcr.io/nim/meta/llama-3.1-70b-instruc:1.3.3", catalog),
    }
    baseline = 0.0
    for label, work in cases.items():
        seconds = best_per_call(work, args.calls, args.rounds)
        baseline = baseline or seconds
        print(f"{label:13s} {seconds * 1e6:8.1f} us per call  ({seconds / baseline:5.1f}x the catalog name)")


if __name__ == "__main__":
    main()
