"""The Grafana dashboard: importable anywhere (a datasource variable, a stable uid), shipped in a ConfigMap
the Grafana sidecar picks up, with panels for everything the issue asks, in PromQL that Prometheus parses and
that reads only exported series."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import MONITORING, render, tool
from tests.deploy.promql import contract_problems, selectors

DASHBOARD_FILE = MONITORING / "dashboards" / "nimdoctor.json"
DASHBOARD: dict[str, Any] = json.loads(DASHBOARD_FILE.read_text())
PANELS = [p for p in DASHBOARD["panels"] if p["type"] != "row"]
# Grafana variables, replaced as Grafana would before the query reaches Prometheus.
VARIABLES = {"$__rate_interval": "5m", "$node": ".*"}


def exprs() -> list[str]:
    found = []
    for panel in PANELS:
        for target in panel["targets"]:
            expr = target["expr"]
            for name, value in VARIABLES.items():
                expr = expr.replace(name, value)
            found.append(expr)
    return found


def test_dashboard_has_a_stable_uid_and_a_prometheus_datasource_variable() -> None:
    assert DASHBOARD["uid"] == "nimdoctor-overview"
    assert "__inputs" not in DASHBOARD, "import-UI-only dashboards cannot be provisioned"
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_every_panel_and_query_uses_the_datasource_variable() -> None:
    wanted = {"type": "prometheus", "uid": "${datasource}"}
    for panel in PANELS:
        assert panel["datasource"] == wanted, panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["datasource"] == wanted for t in panel["targets"]), panel["title"]
    node = next(v for v in DASHBOARD["templating"]["list"] if v["name"] == "node")
    assert node["datasource"] == wanted


def test_panels_cover_readiness_checks_gpus_nvlink_extender_and_workloads() -> None:
    read = {name for expr in exprs() for name, _ in selectors(expr)}
    assert {
        "nimdoctor_node_ready",  # node readiness over time
        "nimdoctor_check_success",  # failing checks by id
        "nimdoctor_gpu_info",  # GPU inventory
        "nimdoctor_nvlink_max_clique_size",  # NVLink cliques
        "nimdoctor_extender_request_duration_seconds_bucket",  # extender latency
        "nimdoctor_extender_nodes_rejected_total",  # rejections
        "nimdoctor_workload_check_success",  # misconfigured workloads
    } <= read


@pytest.mark.parametrize("expr", exprs())
def test_queries_read_only_exported_series(expr: str) -> None:
    assert not contract_problems(expr)


def test_prometheus_parses_every_query(tmp_path: Path) -> None:
    # promtool parses rule expressions with Prometheus's own parser: each query becomes a recording rule.
    rules = [{"record": f"nimdoctor:dashboard_query_{i}", "expr": e} for i, e in enumerate(exprs())]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_panels_do_not_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in DASHBOARD["panels"]:
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        cells = {(box["x"] + dx, box["y"] + dy) for dx in range(box["w"]) for dy in range(box["h"])}
        assert not cells & taken, panel["title"]
        taken |= cells


def test_the_configmap_carries_the_dashboard_for_the_grafana_sidecar() -> None:
    (configmap,) = (d for d in render(MONITORING) if d["kind"] == "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    (text,) = configmap["data"].values()
    assert json.loads(text) == DASHBOARD
    # `kubectl apply` keeps a copy in an annotation, and all annotations share 256 KiB.
    assert len(text.encode()) < 200_000
