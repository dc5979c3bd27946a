"""The claim cache: what it keeps of ResourceClaimTemplates and ResourceClaims, and what it leaves out."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest

from nimdoctor.extender.claims import ClaimCache
from nimdoctor.placement.claim_specs import CLAIM, TEMPLATE
from tests.placement.pods import claim_spec, claim_template


def test_a_list_then_events_keep_only_the_gpu_requests() -> None:
    cache = ClaimCache()
    on_list, on_event = cache.handlers(TEMPLATE)
    on_list(
        [claim_template("four", claim_spec(4)), claim_template("nic", claim_spec(1, device_class="nic.x"))]
    )
    assert cache.synced(TEMPLATE)
    assert not cache.synced(CLAIM)
    four = cache.lookup(TEMPLATE, "nim-service", "four")
    assert four is not None
    assert [g.count for g in four.gpus] == [4]
    nic = cache.lookup(TEMPLATE, "nim-service", "nic")
    assert nic is not None
    assert nic.gpus == ()  # seen, and holds no GPU
    assert cache.lookup(TEMPLATE, "other", "four") is None  # namespaces apart
    on_event("MODIFIED", claim_template("four", claim_spec(None, mode="All")))
    modified = cache.lookup(TEMPLATE, "nim-service", "four")
    assert modified is not None
    assert [g.count for g in modified.gpus] == [None]
    on_event("DELETED", claim_template("four", claim_spec(4)))
    assert cache.lookup(TEMPLATE, "nim-service", "four") is None


def test_an_unreadable_claim_counts_as_not_seen_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    cache = ClaimCache()
    on_list, on_event = cache.handlers(TEMPLATE)
    on_list([claim_template("good", claim_spec(2))])
    bad = claim_template("good", {"devices": {"requests": [{"name": "g", "exactly": {"count": "two"}}]}})
    bad["spec"]["spec"]["devices"]["requests"][0]["exactly"]["deviceClassName"] = "gpu.nvidia.com"
    bad["metadata"]["name"] = "good\x1b[31m"
    with caplog.at_level(logging.WARNING):
        on_event("MODIFIED", bad)
        on_event("ADDED", {"metadata": "not a mapping"})
    assert cache.lookup(TEMPLATE, "nim-service", "good\x1b[31m") is None
    assert "left out" in caplog.text
    assert "\x1b" not in caplog.text  # names are escaped before they reach a log


def test_the_cache_holds_at_most_max_objects() -> None:
    cache = ClaimCache(max_objects=2)
    on_list, on_event = cache.handlers(CLAIM)
    claims: list[Mapping[str, Any]] = [
        {**claim_template(f"c{i}", claim_spec(1)), "spec": claim_spec(1)} for i in range(3)
    ]
    on_list(claims)
    assert cache.counts()[CLAIM] == 2
    on_event("ADDED", {**claim_template("c9", claim_spec(1)), "spec": claim_spec(1)})
    assert cache.counts()[CLAIM] == 2
    assert cache.lookup(CLAIM, "nim-service", "c9") is None
