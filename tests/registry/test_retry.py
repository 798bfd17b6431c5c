"""Retry-After parsing and the jittered backoff schedule."""

import random
import time
from datetime import UTC, datetime

import pytest

from imagebot.retry import Attempts, Backoff, parse_retry_after


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


def test_attempts_stop_at_the_retry_count():
    attempts = Attempts(Backoff(initial=0.01, maximum=0.01), retries=2)
    assert attempts.next_wait() is not None and attempts.next_wait() is not None
    assert attempts.next_wait() is None
    assert attempts.stop_reason == "after 2 retries"


def test_attempts_never_start_a_wait_that_ends_past_the_deadline():
    attempts = Attempts(Backoff(initial=0.01, maximum=100.0), retries=10, deadline=time.monotonic() + 5)
    assert attempts.next_wait(retry_after=1.0) == 1.0
    assert attempts.next_wait(retry_after=30.0) is None
    assert attempts.stop_reason.startswith("after 1 retries; it asked to wait 30s (Retry-After), no time left")


def test_attempts_do_not_retry_sooner_than_a_long_retry_after_asks():
    attempts = Attempts(Backoff(initial=0.01, maximum=30.0), retries=10)
    assert attempts.next_wait(retry_after=99999) is None
    assert "asked to wait 99999s (Retry-After), longer than imagebot waits between retries (30s)" in \
        attempts.stop_reason
