"""Retry delays (capped exponential with jitter) and `--listen` addresses."""

from __future__ import annotations

import pytest

from nimdoctor.agent.backoff import Backoff
from nimdoctor.agent.server import ListenError, parse_listen


def test_delays_double_up_to_the_cap_within_the_upper_half() -> None:
    lowest = Backoff(base=1.0, cap=8.0, rng=lambda: 0.0)
    highest = Backoff(base=1.0, cap=8.0, rng=lambda: 0.999999)
    assert [lowest.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert [round(highest.next_delay(), 3) for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_a_success_starts_again_from_the_base() -> None:
    backoff = Backoff(base=1.0, cap=60.0, rng=lambda: 0.0)
    for _ in range(40):  # no overflow however long the outage
        backoff.next_delay()
    assert backoff.next_delay() == 30.0
    backoff.reset()
    assert (backoff.failures, backoff.next_delay()) == (0, 0.5)


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("0.0.0.0:9402", ("0.0.0.0", 9402)),
        (":9402", ("0.0.0.0", 9402)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("[::]:9402", ("::", 9402)),
        ("localhost:80", ("localhost", 80)),
    ],
)
def test_listen_addresses(value: str, address: tuple[str, int]) -> None:
    assert parse_listen(value) == address


@pytest.mark.parametrize("value", ["9402", "host:", "host:port", "host:70000", "::1:9402", ""])
def test_bad_listen_addresses(value: str) -> None:
    with pytest.raises(ListenError):
        parse_listen(value)
