"""The one backoff of imagebot's HTTP clients (registries, forges, notifiers): which answers to retry,
how long to wait (exponential with full jitter, or the server's Retry-After), and a budget that
never lets the waits run past the caller's deadline.

    attempts = Attempts(Backoff(), retries=4, deadline=time.monotonic() + timeout)
    while True:
        answer = await send()
        if answer.ok or (wait := attempts.next_wait(retry_after)) is None:
            break      # attempts.stop_reason says why: retries spent, or no time left for the wait
        await asyncio.sleep(wait)
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, or None when it is absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit alone takes '¹' and other digits float() refuses
        return float(value)
    from email.utils import parsedate_to_datetime  # rarely needed: most servers send seconds

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    except OverflowError:
        return None


@dataclass(frozen=True)
class Backoff:
    """Attempt n waits a random time in [0, min(maximum, initial * factor**n)].

    Full jitter spreads out clients that failed together, so they don't retry together. A server's
    Retry-After is honoured up to `maximum`; the deadline of `Attempts` caps it further.
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        if retry_after is not None:
            return max(0.0, min(retry_after, self.maximum))
        upper = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return (rng or random).uniform(0, upper)


@dataclass
class Attempts:
    """The retries of one operation: at most `retries`, and no wait that would end past `deadline`
    (a `time.monotonic()` value; None: no deadline)."""

    backoff: Backoff
    retries: int
    deadline: float | None = None
    done: int = 0  # retries made so far
    stop_reason: str = field(default="")

    def next_wait(self, retry_after: float | None = None) -> float | None:
        """The pause before the next retry, or None (and `stop_reason` set) when there is to be none."""
        if self.done >= self.retries:
            self.stop_reason = f"after {self.done} retries" if self.done else ""
            return None
        retried = f"after {self.done} retries; " if self.done else ""
        if retry_after is not None and retry_after > self.backoff.maximum:
            # Retrying sooner than the server asked only earns the same answer.
            self.stop_reason = (f"{retried}it asked to wait {retry_after:.0f}s (Retry-After), longer than "
                                f"imagebot waits between retries ({self.backoff.maximum:g}s)")
            return None
        wait = self.backoff.delay(self.done, retry_after)
        left = self.left()
        if left is not None and wait >= left:
            asked = f"it asked to wait {retry_after:.0f}s (Retry-After), " if retry_after else ""
            self.stop_reason = f"{retried}{asked}no time left for another try ({max(left, 0):.1f}s before the timeout)"
            return None
        self.done += 1
        return wait

    def left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()
