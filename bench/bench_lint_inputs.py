"""What resolving names in the lint input costs: `nimdoctor lint -o json` on N manifests, each a NIMService
with its NIMCache, API-key Secret, registry Secret and PVC, against the same NIM objects without the Secret
and PVC documents (nothing to resolve but the NIMCaches). Both are fresh processes in the same run, so the
ratio says what reading, reducing and resolving the extra objects adds.

    python bench/bench_lint_inputs.py [--manifests N] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NIM = """\
apiVersion: apps.nvidia.com/v1alpha1
kind: NIMCache
metadata: {{name: cache-{i}, namespace: team}}
spec:
  source:
    ngc: {{modelPuller: "nvcr.io/nim/meta/llama-3.2-1b-instruct:1.12.0", pullSecret: ngc-secret-{i},
          authSecret: ngc-api-secret-{i}}}
  storage:
    pvc: {{name: models-{i}, size: 50Gi, volumeAccessMode: ReadWriteMany}}
---
apiVersion: apps.nvidia.com/v1alpha1
kind: NIMService
metadata: {{name: llm-{i}, namespace: team}}
spec:
  image: {{repository: nvcr.io/nim/meta/llama-3.2-1b-instruct, tag: "1.12.0", pullSecrets: [ngc-secret-{i}]}}
  authSecret: ngc-api-secret-{i}
  storage:
    nimCache: {{name: cache-{i}}}
  resources: {{limits: {{nvidia.com/gpu: 1}}}}
"""
OTHERS = """\
---
apiVersion: v1
kind: Secret
metadata: {{name: ngc-api-secret-{i}, namespace: team}}
stringData: {{NGC_API_KEY: bench}}
---
apiVersion: v1
kind: Secret
metadata: {{name: ngc-secret-{i}, namespace: team}}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{{"auths": {{"nvcr.io": {{"username": "$oauthtoken", "password": "x"}}}}}}'
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: models-{i}, namespace: team}}
spec: {{accessModes: [ReadWriteMany], resources: {{requests: {{storage: 50Gi}}}}}}
"""


def write(directory: Path, count: int, others: bool) -> None:
    directory.mkdir()
    for i in range(count):
        text = NIM.format(i=i) + (OTHERS.format(i=i) if others else "")
        (directory / f"m{i:04d}.yaml").write_text(text)


def median_ms(argv: list[str], runs: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=False, env=env)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=False, env=env)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare, full = Path(tmp) / "bare", Path(tmp) / "full"
        write(bare, args.manifests, others=False)
        write(full, args.manifests, others=True)
        lint = [sys.executable, "-m", "nimdoctor", "lint", "-o", "json"]
        baseline = median_ms([*lint, str(bare)], args.runs)
        resolved = median_ms([*lint, str(full)], args.runs)
    print(f"manifests: {args.manifests} ({args.manifests * 2} NIM objects), median of {args.runs} runs")
    print(f"lint, NIM objects only:                  {baseline:8.0f} ms")
    print(f"lint, with 3 objects each to resolve:    {resolved:8.0f} ms")
    print(f"ratio:                                   {resolved / baseline:8.2f}x")


if __name__ == "__main__":
    main()
