"""A failed scan or automation run is tried again after a backoff, as Flux requeues a failed reconcile.

Flux's controllers requeue an object whose reconcile failed with per-object exponential backoff:
fluxcd/pkg runtime/controller/rate_limiter.go binds `--min-retry-delay` (default 750ms) and
`--max-retry-delay` (default 15m) to client-go's ItemExponentialFailureRateLimiter (min x 2^failures,
capped, reset by Forget on success); the image controllers take both flags
(fluxcd/website content/en/flux/components/image/options.md). Without this, a registry blip cost
a repository its whole interval (often an hour).

Here each key (a repository's, an automation's) has at most one retry pending: after failure n
(counted from 1) it waits min x 2^(n-1), capped at max, plus up to RETRY_JITTER of that (never
past max), so that repositories failing together against one registry do not retry in lockstep
(Flux has no jitter: its workqueue spreads little when every object fails in the same second). A
retry that would come after the object's next interval run is not scheduled: that run retries.
Success resets the count; a reload that removes or suspends the object cancels its retry.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imagebot.config.durations import format_duration

if TYPE_CHECKING:
    from imagebot.notify import Dispatcher, Event

log = logging.getLogger("imagebot.service")

DEFAULT_MIN_RETRY_DELAY = 0.75  # seconds: Flux's --min-retry-delay default
DEFAULT_MAX_RETRY_DELAY = 900.0  # seconds: Flux's --max-retry-delay default (15m)
RETRY_JITTER = 0.2  # a retry waits up to this fraction longer than its nominal delay
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
# How far the HTTP client's own retries got (imagebot.retry.Attempts.stop_reason, its numbers masked): the
# same outage ends one try "after 4 retries" and the next with "no time left for another try".
_RETRY_ACCOUNT = re.compile(r"[ ;]*(?:after # retries|no time left for another try \(#s before the timeout\)"
                            r"|it asked to wait #s \(Retry-After\),(?: longer than imagebot waits between "
                            r"retries \(#s\))?)")


def check_retry_delays(minimum: float, maximum: float) -> None:
    """ValueError naming the option when the delays cannot be used."""
    if not (math.isfinite(minimum) and minimum > 0):
        raise ValueError(f"--min-retry-delay must be more than 0, got {_shown(minimum)}")
    if not (math.isfinite(maximum) and maximum >= minimum):
        raise ValueError(f"--max-retry-delay ({_shown(maximum)}) must be at least --min-retry-delay "
                         f"({_shown(minimum)})")


def _shown(seconds: float) -> str:
    return format_duration(seconds) if math.isfinite(seconds) and seconds >= 0 else repr(seconds)


def retry_delay(failures: int, minimum: float, maximum: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after the `failures`-th consecutive failure (1 for the first): the nominal
    min x 2^(failures-1) capped at `maximum`, then up to RETRY_JITTER of it more, never past `maximum`."""
    nominal = min(maximum, minimum * 2.0 ** min(max(failures - 1, 0), 64))
    return min(maximum, nominal * (1.0 + (rng or random).uniform(0.0, RETRY_JITTER)))


@dataclass
class _Pending:
    failures: int = 0
    handle: asyncio.TimerHandle | None = None
    due: float | None = None  # time.time() of the retry, while one is pending


@dataclass
class Retries:
    """The retries of one kind of run ("scan", "automation"): `failed` schedules one, `succeeded`
    resets, `cancel` drops one. `request(key)` is called when a retry is due; `next_run(key)` gives
    the key's next interval run (time.time(), None: unknown), which a retry must not come after."""

    what: str  # "scan of ImageRepository", for the log
    key_field: str  # the log field naming the key: "repository", "automation"
    request: Callable[[str], object]
    minimum: float = DEFAULT_MIN_RETRY_DELAY
    maximum: float = DEFAULT_MAX_RETRY_DELAY
    next_run: Callable[[str], float | None] = lambda key: None
    on_scheduled: Callable[[], None] = lambda: None
    rng: random.Random = field(default_factory=random.Random)
    _keys: dict[str, _Pending] = field(default_factory=dict)

    def failed(self, key: str, error: str, *, not_before: float | None = None,
               fields: dict[str, object] | None = None) -> float | None:
        """Count a failure of `key` and schedule its retry; the delay in seconds, or None when the
        next interval run comes first. `not_before`: seconds the other side asked us to wait (a
        registry's Retry-After), which the delay never undercuts."""
        state = self._keys.setdefault(key, _Pending())
        self._drop_timer(state)
        state.failures += 1
        delay = retry_delay(state.failures, self.minimum, self.maximum, self.rng)
        if not_before is not None and not_before > delay:
            delay = not_before
        extra = {self.key_field: key, **(fields or {}), "attempt": state.failures}
        now = time.time()
        next_run = self.next_run(key)
        if next_run is not None and now + delay >= next_run:
            log.info("%s failed (attempt %d); the next scheduled one, in %.1fs, comes before a retry would "
                     "(%.1fs): %s", self.what, state.failures, max(0.0, next_run - now), delay, error, extra=extra)
            return None
        state.due = now + delay
        state.handle = asyncio.get_running_loop().call_later(delay, self._fire, key)
        self.on_scheduled()
        log.warning("%s failed (attempt %d), retrying in %.2fs: %s", self.what, state.failures, delay, error,
                    extra={**extra, "retry_in": round(delay, 3)})
        return delay

    def succeeded(self, key: str) -> None:
        state = self._keys.pop(key, None)
        if state is not None:
            self._drop_timer(state)
            if state.failures:
                log.info("%s succeeded after %d failure(s)", self.what, state.failures, extra={self.key_field: key})

    def superseded(self, key: str) -> None:
        """A run of `key` starts by other means (its interval, a webhook): its pending retry is not
        needed; the failures still count, for the delay after this run if it fails too."""
        state = self._keys.get(key)
        if state is not None:
            self._drop_timer(state)

    def cancel(self, key: str, why: str) -> None:
        """Forget `key`'s failures and drop its pending retry (removed, suspended)."""
        state = self._keys.pop(key, None)
        if state is not None and state.handle is not None:
            self._drop_timer(state)
            log.info("%s: pending retry cancelled (%s)", self.what, why, extra={self.key_field: key})

    def keep_only(self, alive: Callable[[str], bool], why: str) -> None:
        for key in [k for k in self._keys if not alive(k)]:
            self.cancel(key, why)

    def due(self) -> dict[str, float]:
        """Key -> time.time() of its pending retry."""
        return {key: s.due for key, s in self._keys.items() if s.due is not None}

    def failures(self, key: str) -> int:
        state = self._keys.get(key)
        return state.failures if state else 0

    def close(self) -> None:
        for state in self._keys.values():
            self._drop_timer(state)

    def _fire(self, key: str) -> None:
        state = self._keys.get(key)
        if state is not None:
            state.handle, state.due = None, None
        self.request(key)

    @staticmethod
    def _drop_timer(state: _Pending) -> None:
        if state.handle is not None:
            state.handle.cancel()
        state.handle, state.due = None, None


def repeats(event: Event, previous_error: str | None) -> bool:
    """True for the error event of a retry that failed as the try before it did.

    Flux's notification-controller drops an event repeated within --rate-limit-interval (default
    5m); without something alike, a registry down for an hour would send an alert per retry (about
    eleven with the default delays) where it sent one per interval before. A retry's failure is
    announced only when its error differs from the one already announced, up to its numbers and the
    client's own account of its retries, which differ from one try to the next."""
    return (previous_error is not None and event.severity == "error"
            and _cause(event.message) == _cause(previous_error))


def _cause(message: str) -> str:
    return _RETRY_ACCOUNT.sub("", _DIGITS.sub("#", message))


class QuietRepeats:
    """A `Dispatcher` for a retry's run: passes every event on but one that `repeats` the last error."""

    def __init__(self, dispatcher: Dispatcher, previous_error: str | None) -> None:
        self._dispatcher = dispatcher
        self._previous = previous_error

    def dispatch(self, event: Event, *args: Any, **kwargs: Any) -> int:
        if repeats(event, self._previous):
            log.info("not notified again: the retry failed as the previous try did",
                     extra={"object": f"{event.involved_object.kind} {event.involved_object.namespace}/"
                                      f"{event.involved_object.name}"})
            return 0
        return self._dispatcher.dispatch(event, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dispatcher, name)
