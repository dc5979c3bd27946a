"""The test client reads answers as kube-scheduler's Go code does: its own rules, proven on hand-made answers
(the traps real Python extenders fell into), so the protocol tests that rely on it can fail."""

from __future__ import annotations

import json

import pytest

from tests.extender.gosched import (
    ExtenderError,
    GoDecodeError,
    event_message,
    read_filter,
    read_prioritize,
)

NAMES = ["gpu-a", "gpu-b"]


def test_keys_match_case_insensitively_as_encoding_json_does() -> None:
    # TopoLVM answers in lower case and works.
    view = read_filter(
        b'{"nodenames":["gpu-a"],"failedandunresolvablenodes":{"gpu-b":"x"}}', NAMES, node_cache_capable=True
    )
    assert view.feasible == ["gpu-a"]
    assert view.statuses == {"gpu-b": ("UnschedulableAndUnresolvable", ["x"])}


def test_an_empty_answer_rejects_every_node_without_a_reason() -> None:
    view = read_filter(b"{}", NAMES, node_cache_capable=True)
    assert view.feasible == []
    assert view.statuses == {}
    assert event_message(2, view.statuses) == "0/2 nodes are available: ."


def test_nodenames_are_ignored_without_node_cache_capable() -> None:
    view = read_filter(b'{"NodeNames":["gpu-a"],"Nodes":null}', NAMES, node_cache_capable=False)
    assert view.feasible == []


def test_a_survivor_not_in_the_request_is_an_error() -> None:
    with pytest.raises(ExtenderError, match="not found in the input node list"):
        read_filter(b'{"NodeNames":["gpu-z"]}', NAMES, node_cache_capable=True)


def test_a_non_empty_error_field_fails_the_call() -> None:
    with pytest.raises(ExtenderError, match="boom"):
        read_filter(b'{"NodeNames":["gpu-a"],"Error":"boom"}', NAMES, node_cache_capable=True)


def test_unresolvable_wins_over_failed_for_the_same_node() -> None:
    body = json.dumps(
        {"NodeNames": [], "FailedNodes": {"gpu-a": "soft"}, "FailedAndUnresolvableNodes": {"gpu-a": "hard"}}
    )
    view = read_filter(body.encode(), NAMES, node_cache_capable=True)
    assert view.statuses == {"gpu-a": ("UnschedulableAndUnresolvable", ["hard"])}


@pytest.mark.parametrize("score", ["5.0", '"5"', "true", "5e0"])
def test_a_score_that_is_not_an_integer_literal_drops_the_answer(score: str) -> None:
    with pytest.raises(GoDecodeError):
        read_prioritize(f'[{{"Host":"gpu-a","Score":{score}}}]'.encode())


def test_scores_read_with_any_key_case_and_null_means_no_scores() -> None:
    assert read_prioritize(b'[{"host":"gpu-a","SCORE":7}]') == {"gpu-a": 7}
    assert read_prioritize(b"null") == {}


def test_the_event_histogram_is_sorted_and_counts_identical_reasons() -> None:
    statuses = {
        "a": ("UnschedulableAndUnresolvable", ["NIM-FIT-004 x"]),
        "b": ("UnschedulableAndUnresolvable", ["NIM-FIT-004 x"]),
        "c": ("UnschedulableAndUnresolvable", ["NIM-FIT-001 y"]),
    }
    assert event_message(3, statuses) == "0/3 nodes are available: 1 NIM-FIT-001 y, 2 NIM-FIT-004 x."
