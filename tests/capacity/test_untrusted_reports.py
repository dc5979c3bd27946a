"""Capacity judges reports as the extender does: a simulated report counts as no report unless
`--trust-simulated`, and an invalid one makes only its node unknown, naming the field (offline and live)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from nimdoctor.cli import cli
from tests.capacity.fleet import LLAMA_70B, by_node, machine, write_reports
from tests.capacity.test_cluster import node, node_report, put
from tests.kube import Emulator, kube, write_kubeconfig

__all__ = ["kube"]


def capacity(*args: str | Path) -> tuple[int, dict[str, Any]]:
    """`nimdoctor capacity --model LLAMA_70B ARGS -o json`, without trusting simulations unless asked."""
    result = CliRunner().invoke(cli, ["capacity", "--model", LLAMA_70B, *map(str, args), "-o", "json"])
    assert result.exit_code in (0, 1, 3), result.output
    return result.exit_code, json.loads(result.stdout)


def test_a_simulated_report_file_counts_nothing_unless_trusted(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "r", {"dgx-1": machine("dgx-h100")})
    code, document = capacity("--reports", reports)
    entry = by_node(document)["dgx-1"]
    assert (code, document["replicas"], entry["status"]) == (3, 0, "unknown")
    assert "simulated (dgx-h100), not measured" in entry["reason"]
    code, trusted = capacity("--reports", reports, "--trust-simulated")
    assert (code, trusted["replicas"], by_node(trusted)["dgx-1"]["status"]) == (0, 4, "fits")


def test_an_invalid_report_file_makes_only_its_node_unknown_naming_the_field(tmp_path: Path) -> None:
    reports = write_reports(tmp_path / "r", {"good": machine("dgx-h100"), "bad": machine("dgx-h100")})
    bad = json.loads((reports / "bad.json").read_text())
    bad["capabilities"]["computeCapability"] = "\u00b2.\u00b3"
    (reports / "bad.json").write_text(json.dumps(bad))
    code, document = capacity("--reports", reports, "--trust-simulated")
    nodes = by_node(document)
    assert (code, document["replicas"], nodes["good"]["status"]) == (0, 4, "fits")
    assert nodes["bad"]["status"] == "unknown"
    assert "the NodeReport is invalid (capabilities.computeCapability:" in nodes["bad"]["reason"]


def test_a_simulated_nodereport_in_the_cluster_counts_nothing_unless_trusted(
    kube: Emulator, tmp_path: Path
) -> None:
    put(kube, node_report("dgx-1", machine("dgx-h100"), dt.datetime.now(dt.UTC)), node("dgx-1", 8))
    config = write_kubeconfig(tmp_path / "kubeconfig", kube.url)
    code, document = capacity("--cluster", "--kubeconfig", config)
    entry = by_node(document)["dgx-1"]
    assert (code, document["replicas"], entry["status"]) == (3, 0, "unknown")
    assert "simulated (dgx-h100), not measured" in entry["reason"]
    code, trusted = capacity("--cluster", "--kubeconfig", config, "--trust-simulated")
    assert (code, trusted["replicas"]) == (0, 4)
