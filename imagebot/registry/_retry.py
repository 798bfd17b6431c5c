"""Backoff with full jitter, and the Retry-After header (seconds or an HTTP date)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from imagebot.retry import parse_retry_after

__all__ = ["RETRYABLE_STATUS", "Backoff", "parse_retry_after"]

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
