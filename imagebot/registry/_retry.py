"""Backoff with full jitter, and the Retry-After header (seconds or an HTTP date)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: attempt n waits a random time in [0, min(cap, base * 2**n)].

    Full jitter spreads out clients that failed together, so they don't retry together.
    """

    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        upper = min(self.cap, self.base * (2**attempt))
        return (rng or random).uniform(0, upper)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, or None when it is absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime  # rarely needed: most servers send seconds

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
