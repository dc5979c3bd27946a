"""A hostile or corrupt NodeReport costs only its own node: validated where it enters (the watch, report
files), answered by the --on-missing-report policy with the invalid field named, logged once and counted; a
node shape that makes judging raise costs only its nodes; an exception in a request is a counted 500."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import msgspec
import pytest

from nimdoctor.catalog import Catalog
from nimdoctor.cluster.nodereport import GROUP, PLURAL, VERSION, InvalidReport, parse_node_document
from nimdoctor.extender.cache import ReportCache
from nimdoctor.extender.decide import UNJUDGED, Decider, Need, Outcome, Question
from nimdoctor.extender.protocol import Candidates, HostPriority
from nimdoctor.extender.run import Extender
from tests.extender.live import Client, LiveExtender, record
from tests.extender.test_watch import (
    POD_70B,
    custom_objects,
    declare,
    eventually,
    nodereport,
    store,
    watched,
)
from tests.kube import Emulator
from tests.placement import nodes
from tests.placement.pods import nim_pod

CC_FIELD = "capabilities.computeCapability"
# Values the CRD's old schema (a plain string) let through, each as the API would hold it.
HOSTILE: dict[str, dict[str, Any]] = {
    "superscripts": {"computeCapability": "\u00b2.\u00b3"},
    "4301 digits": {"computeCapability": "9" * 4301 + ".0"},
    "fullwidth digits": {"computeCapability": "\uff19.\uff10"},
    "a trailing line break": {"computeCapability": "9.0\n"},
    "escape in the product": {"gpuProduct": "H100-SXM\x1b[2J"},
    "a billion GPUs": {"gpuCount": 10**9},
    "a 5,000-digit memory": {"gpuMemoryBytes": int("9" * 4300)},
    "a negative clique": {"maxNvlinkClique": -1},
    "an endless MIG list": {
        "migEnabled": True,
        "migSlices": [{"profile": "1g.10gb", "memoryBytes": 1, "count": 1}] * 65,
    },
    "an unknown MIG strategy": {"migStrategy": "all"},
}
FIELDS = {
    "superscripts": CC_FIELD,
    "4301 digits": CC_FIELD,
    "fullwidth digits": CC_FIELD,
    "a trailing line break": CC_FIELD,
    "escape in the product": "capabilities.gpuProduct",
    "a billion GPUs": "capabilities.gpuCount",
    "a 5,000-digit memory": "capabilities.gpuMemoryBytes",
    "a negative clique": "capabilities.maxNvlinkClique",
    "an endless MIG list": "capabilities.migSlices",
    "an unknown MIG strategy": "capabilities.migStrategy",
}


def filtered(
    client: Client, names: list[str], pod: dict[str, Any] = POD_70B
) -> tuple[list[str], dict[str, str]]:
    status, body = client.post("/filter", {"Pod": pod, "Nodes": None, "NodeNames": names})
    assert status == 200, body
    answer = msgspec.json.decode(body)
    return answer["NodeNames"], answer["FailedAndUnresolvableNodes"]


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_capability_is_an_invalid_report_naming_the_field(case: str) -> None:
    with pytest.raises(InvalidReport) as error:
        parse_node_document(nodereport("gpu-bad", **HOSTILE[case]))
    assert error.value.node == "gpu-bad"
    assert error.value.problem.startswith(f"{FIELDS[case]}:")
    assert len(error.value.problem) < 200  # the value itself is never repeated
    assert error.value.problem.isprintable()


@pytest.mark.slow
def test_a_watched_hostile_report_beside_good_ones_costs_only_its_node(
    kube: Emulator, catalog: Catalog
) -> None:
    declare(kube)
    for name in ("gpu-good-1", "gpu-good-2"):
        store(kube, nodereport(name))
    store(kube, nodereport("gpu-bad", computeCapability="\u00b2.\u00b3"))
    running = watched(kube, catalog).start()
    names = ["gpu-good-1", "gpu-bad", "gpu-good-2"]
    try:
        assert running.extender.cache.wait_synced(10)
        with running.client() as client, Client(running.metrics_port) as metrics:
            survivors, failed = filtered(client, names)
            assert survivors == ["gpu-good-1", "gpu-good-2"]
            assert list(failed) == ["gpu-bad"]
            assert failed["gpu-bad"].startswith("NIM-FIT-008 the node's nimdoctor report is invalid")
            assert CC_FIELD in failed["gpu-bad"]
            status, body = client.post("/prioritize", {"Pod": POD_70B, "Nodes": None, "NodeNames": names})
            assert status == 200
            assert [p["Score"] for p in msgspec.json.decode(body)][1] == 0
            # A second hostile report arrives on the watch: it too costs only itself.
            custom_objects(kube).create_cluster_custom_object(
                GROUP, VERSION, PLURAL, nodereport("gpu-huge", computeCapability="9" * 4301)
            )
            # Before the watch delivers it, gpu-huge is rejected as a node without a report: wait for the
            # rejection that names the invalid field.
            eventually(lambda: CC_FIELD in filtered(client, [*names, "gpu-huge"])[1].get("gpu-huge", ""))
            assert filtered(client, [*names, "gpu-huge"])[0] == ["gpu-good-1", "gpu-good-2"]
            exposition = metrics.get("/metrics")[1].decode()
            assert 'nimdoctor_extender_unusable_reports{kind="invalid"} 2.0' in exposition
            assert 'nimdoctor_extender_refused_reports_total{kind="invalid"} 2.0' in exposition
            assert 'nimdoctor_extender_request_failures_total{verb="filter"} 0.0' in exposition
            # Repaired by its agent: admitted again.
            custom_objects(kube).patch_cluster_custom_object(
                GROUP, VERSION, PLURAL, "gpu-bad", {"status": {"capabilities": {"computeCapability": "9.0"}}}
            )
            eventually(lambda: filtered(client, names)[0] == names)
    finally:
        running.stop()


def test_an_invalid_report_follows_the_admit_policy(catalog: Catalog) -> None:
    cache = ReportCache(None)
    cache.apply_list([nodereport("gpu-good"), nodereport("gpu-bad", computeCapability="x")])
    names = ["gpu-good", "gpu-bad"]
    request = Candidates(pod=POD_70B, names=names, by_name=True, items=None)
    assert Decider(cache, catalog, admit_missing=True).filter(request).survivors == names
    rejected = Decider(cache, catalog).filter(request)
    assert rejected.survivors == ["gpu-good"]
    assert rejected.rejected_by_check == {"NIM-FIT-008": 1}


def test_an_invalid_report_is_logged_and_counted_once_however_often_it_arrives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = ReportCache(None)
    bad = nodereport("gpu-bad", computeCapability="x")
    with caplog.at_level(logging.WARNING, logger="nimdoctor.extender.cache"):
        cache.apply_list([bad])
        for _ in range(5):
            cache.apply_event("MODIFIED", bad)
        cache.apply_list([bad])
    assert len(caplog.records) == 1
    assert "gpu-bad" in caplog.text
    assert CC_FIELD in caplog.text
    assert cache.refused["invalid"] == 1
    cache.apply_event("MODIFIED", nodereport("gpu-bad", gpuCount=10**6))  # a new cause: told again
    assert cache.refused["invalid"] == 2
    cache.apply_event("MODIFIED", nodereport("gpu-bad"))
    assert set(cache.snapshot.nodes) == {"gpu-bad"}
    assert not cache.snapshot.unusable


def test_a_shape_whose_judging_raises_costs_only_its_nodes(
    catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    # Built in code, capabilities skip validation: the one way left to hand `fit` a value it cannot parse.
    broken = msgspec.structs.replace(nodes.DGX_H100, compute_capability="\u00b2.\u00b3")
    cache = ReportCache(None)
    cache.replace([record("gpu-good", nodes.DGX_H100), record("gpu-broken", broken)])
    decider = Decider(cache, catalog)
    request = Candidates(pod=POD_70B, names=["gpu-good", "gpu-broken"], by_name=True, items=None)
    with caplog.at_level(logging.ERROR, logger="nimdoctor.extender.faults"):
        outcome = decider.filter(request)
        decider.prioritize(request)
    assert outcome.survivors == ["gpu-good"]
    assert outcome.failed == {"gpu-broken": UNJUDGED}
    assert decider.faults.counts["judge"] == 1  # judged once per shape, and the tables are kept
    assert len(caplog.records) == 1


class _Raising:
    """Answers that raise: a bug inside a request, as the webhook sees it."""

    def question(self, pod: dict[str, Any]) -> Question:
        return Question(None, None)

    def caution(self, pod: dict[str, Any], need: Need | str | None) -> tuple[str | None, bool]:
        return None, False

    def filter(self, candidates: Candidates, question: Question | None = None) -> Outcome:
        raise KeyError(candidates.names[0])

    def prioritize(self, candidates: Candidates, question: Question | None = None) -> list[HostPriority]:
        raise ZeroDivisionError


def test_an_exception_in_a_request_is_a_counted_500_logged_once_per_cause(
    catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    cache = ReportCache(None)
    cache.replace([record("gpu-1", nodes.DGX_H100, dt.datetime.now(dt.UTC))])
    extender = Extender.assemble(cache, catalog)
    extender.webhook.answers = _Raising()
    running = LiveExtender(extender).start()
    try:
        with caplog.at_level(logging.ERROR, logger="nimdoctor.extender.faults"), running.client() as client:
            for index in range(5):
                request = {
                    "Pod": nim_pod("meta/llama-3.1-8b-instruct"),
                    "Nodes": None,
                    "NodeNames": [f"n{index}"],
                }
                status, body = client.post("/filter", request)
                assert status == 500
                assert b"internal error" in body
            assert client.post("/prioritize", request)[0] == 500
            exposition = client.get("/metrics")[1].decode()
    finally:
        running.stop()
    assert 'nimdoctor_extender_request_failures_total{verb="filter"} 5.0' in exposition
    assert 'nimdoctor_extender_internal_errors_total{where="filter"} 5.0' in exposition
    assert 'nimdoctor_extender_internal_errors_total{where="prioritize"} 1.0' in exposition
    assert len(caplog.records) == 2  # one cause per verb, each logged once in the minute
