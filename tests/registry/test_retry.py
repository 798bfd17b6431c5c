"""Retry-After parsing and the jittered backoff schedule."""

import random
from datetime import UTC, datetime

import pytest

from imagebot.retry import Backoff, parse_retry_after


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), (" 0 ", 0.0), (None, None), ("", None),
                                                 ("soon", None), ("-3", None)])
def test_retry_after_in_seconds(header, seconds):
    assert parse_retry_after(header) == seconds


def test_retry_after_as_an_http_date():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0


def test_backoff_grows_exponentially_within_the_cap_with_jitter():
    backoff = Backoff(initial=0.5, maximum=4.0)
    rng = random.Random(7)
    for attempt, upper in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (10, 4.0)]:
        delays = [backoff.delay(attempt, rng=rng) for _ in range(200)]
        assert all(0 <= d <= upper for d in delays)
        assert max(delays) > upper * 0.8  # jitter spreads over the whole range
        assert len(set(delays)) > 150
