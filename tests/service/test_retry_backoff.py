"""The backoff of a failed scan or run (imagebot/service/retries.py): Flux's doubling from
--min-retry-delay to --max-retry-delay, plus a bounded jitter; and the per-key bookkeeping."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from imagebot.service.generation import ServiceOptions
from imagebot.service.retries import (
    DEFAULT_MAX_RETRY_DELAY,
    DEFAULT_MIN_RETRY_DELAY,
    RETRY_JITTER,
    Retries,
    check_retry_delays,
    retry_delay,
)


class Edge(random.Random):
    """A random source that always draws the low (0) or the high (1) end of a range."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


@pytest.mark.parametrize(("failures", "nominal"), [
    (1, 0.75), (2, 1.5), (3, 3.0), (4, 6.0), (10, 384.0), (11, 768.0), (12, 900.0), (13, 900.0), (500, 900.0),
])
def test_the_delay_starts_at_the_minimum_doubles_and_is_capped_at_the_maximum(failures: int, nominal: float) -> None:
    low = retry_delay(failures, 0.75, 900.0, Edge(high=False))
    high = retry_delay(failures, 0.75, 900.0, Edge(high=True))
    assert low == nominal  # no jitter drawn: exactly Flux's min x 2^(n-1), capped
    assert high == min(900.0, nominal * (1 + RETRY_JITTER))  # the most jitter adds, never past the cap


def test_the_jitter_spreads_retries_within_its_bound() -> None:
    rng = random.Random(7)
    draws = [retry_delay(3, 0.2, 60.0, rng) for _ in range(500)]
    assert all(0.8 <= d <= 0.8 * (1 + RETRY_JITTER) for d in draws)
    assert len({round(d, 6) for d in draws}) > 400  # not in lockstep
    assert max(draws) - min(draws) > 0.8 * RETRY_JITTER * 0.9  # the whole band is used
    at_cap = [retry_delay(20, 0.2, 60.0, rng) for _ in range(100)]
    assert all(d == 60.0 for d in at_cap)  # the maximum is a maximum


def test_flux_defaults_and_their_checks() -> None:
    assert (DEFAULT_MIN_RETRY_DELAY, DEFAULT_MAX_RETRY_DELAY) == (0.75, 900.0)
    options = ServiceOptions(Path("c"), None, Path("s"))
    assert (options.min_retry_delay, options.max_retry_delay) == (0.75, 900.0)
    check_retry_delays(1.0, 1.0)  # equal is allowed: a fixed delay
    with pytest.raises(ValueError, match=r"--min-retry-delay must be more than 0, got 0s"):
        ServiceOptions(Path("c"), None, Path("s"), min_retry_delay=0.0)
    with pytest.raises(ValueError, match=r"--min-retry-delay must be more than 0, got -1.0"):
        check_retry_delays(-1.0, 1.0)
    with pytest.raises(ValueError, match=r"--min-retry-delay must be more than 0, got nan"):
        check_retry_delays(float("nan"), 1.0)
    with pytest.raises(ValueError, match=r"--max-retry-delay \(inf\) must be at least"):
        check_retry_delays(1.0, float("inf"))
    with pytest.raises(ValueError, match=r"--max-retry-delay \(1s\) must be at least --min-retry-delay \(2s\)"):
        ServiceOptions(Path("c"), None, Path("s"), min_retry_delay=2.0, max_retry_delay=1.0)


def _retries(requested: list[str], *, minimum: float = 0.05, maximum: float = 0.4,
             next_run: dict[str, float] | None = None) -> Retries:
    upcoming = next_run or {}
    return Retries("scan of ImageRepository", "repository", requested.append, minimum, maximum,
                   next_run=upcoming.get, rng=Edge(high=False))


def test_one_retry_per_failure_doubling_until_success_resets_it() -> None:
    async def scenario() -> tuple[list[float | None], list[str], float | None, int]:
        requested: list[str] = []
        retries = _retries(requested)
        delays = [retries.failed("team/app", "registry answered 503") for _ in range(5)]  # each replaces the last
        pending = len(retries.due())
        await asyncio.sleep(0.6)  # the last one (0.4 s) has fired, once
        retries.succeeded("team/app")
        after_reset = retries.failed("team/app", "again")
        retries.close()
        return delays, requested, after_reset, pending

    delays, requested, after_reset, pending = asyncio.run(scenario())
    assert delays == [0.05, 0.1, 0.2, 0.4, 0.4]
    assert pending == 1 and requested == ["team/app"]
    assert after_reset == 0.05


def test_a_retry_after_the_next_interval_run_is_not_scheduled() -> None:
    async def scenario() -> tuple[list[float | None], dict[str, float]]:
        retries = _retries([], next_run={"team/app": time.time() + 0.15})
        # 0.05 s and 0.1 s come before the interval run; 0.2 s would come after it
        delays = [retries.failed("team/app", "down") for _ in range(3)]
        due = retries.due()
        retries.close()
        return delays, due

    delays, due = asyncio.run(scenario())
    assert delays == [0.05, 0.1, None]
    assert due == {}  # the replaced retry is gone too: the interval run is the next try


def test_retry_after_is_never_undercut() -> None:
    async def scenario() -> float | None:
        retries = _retries([])
        delay = retries.failed("team/app", "429", not_before=3.0)
        retries.close()
        return delay

    assert asyncio.run(scenario()) == 3.0


def test_superseded_and_cancelled_retries_do_not_fire() -> None:
    async def scenario() -> tuple[list[str], int, int]:
        requested: list[str] = []
        retries = _retries(requested)
        retries.failed("team/a", "down")
        retries.failed("team/b", "down")
        retries.failed("team/c", "down")
        retries.superseded("team/a")  # its interval run came first
        retries.keep_only(lambda key: key != "team/b", "removed by a reload")
        await asyncio.sleep(0.2)
        return requested, retries.failures("team/a"), retries.failures("team/b")

    requested, failures_a, failures_b = asyncio.run(scenario())
    assert requested == ["team/c"]
    assert failures_a == 1  # still counts: a failure of that interval run waits 2 x min
    assert failures_b == 0


def test_a_retry_repeating_the_last_error_up_to_its_numbers_is_not_announced_again() -> None:
    from imagebot.notify import Event, ObjectRef
    from imagebot.service.retries import repeats

    def error(message: str, severity: str = "error") -> Event:
        return Event(severity=severity, reason="ScanFailed", message=message,  # type: ignore[arg-type]
                     involved_object=ObjectRef("ImageRepository", "team", "app"))

    last = "team/app: the registry answered 503 after 2 retries; no time left (0.31s before the timeout)"
    assert repeats(error("team/app: the registry answered 503 after 3 retries; no time left (0.08s before the "
                         "timeout)"), last)
    # the same outage, the client's retries ending otherwise (spec.timeout ran out first under load)
    detail = ": UNAVAILABLE the registry is failing on purpose — it is failing; try again later"
    announced = f"team/app: the registry answered 503 after 4 retries{detail}"
    assert repeats(error("team/app: the registry answered 503 after 2 retries; no time left for another try "
                         f"(0.1s before the timeout){detail}"), announced)
    assert repeats(error("team/app: the registry answered 503; it asked to wait 90s (Retry-After), longer than "
                         f"imagebot waits between retries (30s){detail}"), announced)
    assert not repeats(error("team/app: authentication failed (401)"), last)  # a new error is announced
    assert not repeats(error(last), None)  # the first failure is announced
    assert not repeats(error(last, severity="info"), last)
