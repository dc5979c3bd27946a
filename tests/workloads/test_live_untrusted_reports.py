"""The audit and `run --cluster` judge NodeReports as the extender does: a simulated report counts as no
report, and an invalid one makes only its node unknown, naming the field (NIM-WL-011, NIM-WL-020)."""

from __future__ import annotations

from typing import Any

from nimdoctor.catalog import Catalog
from tests.kube import Emulator
from tests.workloads.cluster import NFD, nimservice, node, nodereport, put
from tests.workloads.conftest import judge
from tests.workloads.test_live_capacity import autoscaled, fleet
from tests.workloads.test_live_nodes import LLAMA_70B


def simulated(node_name: str, machine: str) -> dict[str, Any]:
    """The NodeReport `agent --simulate MACHINE --publish-simulated` writes."""
    report = nodereport(node_name, machine)
    report["status"]["simulated"] = machine
    return report


def invalid(node_name: str) -> dict[str, Any]:
    """A NodeReport whose compute capability is not `major.minor` (the CRD types it as a plain string)."""
    report = nodereport(node_name, "dgx-h100")
    report["status"]["capabilities"]["computeCapability"] = "\u00b2.\u00b3"
    return report


def test_a_simulated_report_is_no_report_to_the_fit_check(live: Emulator, catalog: Catalog) -> None:
    put(live, simulated("gpu-1", "dgx-h100"))
    finding = judge(live, catalog)["llm", "NIM-WL-011"]
    assert finding.status.value == "skip"
    assert finding.message == (
        "no usable NodeReport for the nodes it may run on: 1 not used, e.g. gpu-1: the NodeReport is "
        "simulated (dgx-h100), not measured: run the nimdoctor agent there without --simulate"
    )


def test_an_invalid_report_makes_only_its_node_unknown_naming_the_field(
    live: Emulator, catalog: Catalog
) -> None:
    put(live, node("gpu-2", **NFD), invalid("gpu-2"))
    assert judge(live, catalog)["llm", "NIM-WL-011"].status.value == "pass"  # gpu-1 still counts
    big = nimservice(
        "big", image=LLAMA_70B, resources={"limits": {"nvidia.com/gpu": 1}}, storage={"emptyDir": {}}
    )
    put(live, big)
    finding = judge(live, catalog)["big", "NIM-WL-011"]
    assert (finding.status.value, finding.message) == (
        "warn",
        "fits no node for sure; 1 could not be judged",
    )
    assert finding.evidence["unknown"] == ["gpu-2"]
    (reason,) = [r for r in finding.evidence["reasons"] if "gpu" not in r and "invalid" in r]
    assert reason.startswith("the NodeReport is invalid (capabilities.computeCapability: Expected `str`")


def test_the_hpa_check_counts_no_replica_on_a_simulated_report(live: Emulator, catalog: Catalog) -> None:
    fleet(live)
    put(live, autoscaled(10), simulated("gpu-2", "dgx-h100"))  # a pretend healthy gpu-2: 4 more if trusted
    finding = judge(live, catalog)["llm", "NIM-WL-020"]
    assert finding.status.value == "warn"
    assert finding.message == (
        "scale.hpa.maxReplicas 10 but at most 4 replica(s) of meta/llama-3.1-70b-instruct can run "
        "(2 running + 2 more fit): 6 short; 1 node(s) could not be judged"
    )
