"""Runs of one thing (an automation, a repository scan) that never overlap and coalesce.

A trigger that arrives while a run of the same key is in progress does not start a second run
and is not lost: all such triggers fold into one follow-up run after the current one. That is
what keeps a burst of registry notifications (one per manifest, per tag) down to one or two
scans, and one automation run per change. A schedule's trigger (`join`) is served by the run in
progress itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger("imagebot.service")


@dataclass(frozen=True)
class Trigger:
    """Why a run was asked for. `pushed_at` (time.monotonic()) is when a push webhook arrived,
    carried from the scan to the automation so the push-to-commit latency can be measured."""

    reason: str  # startup, interval, webhook, settle, policy-changed, reload, of-age
    pushed_at: float | None = None
    # tags a registry's notification announced for this repository, and how many scans have looked
    tags: frozenset[str] = frozenset()
    attempt: int = 0

    def merge(self, other: Trigger) -> Trigger:
        """One trigger standing for both: the first reason (of-age, which lists nothing, only if both
        are), the earliest push, every announced tag, the fewest attempts."""
        times = [t for t in (self.pushed_at, other.pushed_at) if t is not None]
        reason = other.reason if self.reason == "of-age" else self.reason
        return Trigger(reason, min(times) if times else None, self.tags | other.tags,
                       min(self.attempt, other.attempt))


@dataclass
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    task: asyncio.Task[None] | None = None
    pending: Trigger | None = None


Work = Callable[[str, Trigger], Awaitable[None]]


class SerialRuns:
    """`request(key, trigger)` starts `work(key, trigger)` unless a run of `key` is in progress;
    then the trigger is remembered and served by one follow-up run. Keys run independently."""

    def __init__(self, work: Work, what: str) -> None:
        self._work = work
        self._what = what
        self._slots: dict[str, _Slot] = {}
        self._closed = False

    def request(self, key: str, trigger: Trigger) -> asyncio.Task[None] | None:
        """The task that will serve this trigger; None once closed (shutting down)."""
        if self._closed:
            log.info("%s %s not started: shutting down", self._what, key)
            return None
        slot = self._slots.setdefault(key, _Slot())
        slot.pending = trigger if slot.pending is None else slot.pending.merge(trigger)
        if slot.task is None or slot.task.done():
            slot.task = asyncio.get_running_loop().create_task(self._serve(key, slot), name=f"{self._what} {key}")
        return slot.task

    async def run(self, key: str, trigger: Trigger) -> None:
        """Request and wait for the run; cancelling the waiter (a scheduler shutting down) leaves
        the run itself going, so that shutdown can let it finish."""
        task = self.request(key, trigger)
        if task is not None:
            await _wait_for(task)

    async def join(self, key: str, trigger: Trigger) -> None:
        """`run`, for a trigger that a run already in progress serves as well as a new one would (a
        schedule's): then it waits for that run, and asks for no follow-up. At start-up every
        repository's first scan is queued at once, and their schedules, spread over the first interval,
        fired while most were still waiting: each asked for a second scan right after the first."""
        slot = self._slots.get(key)
        if slot is not None and slot.task is not None and not slot.task.done():
            await _wait_for(slot.task)
            return
        await self.run(key, trigger)

    def running(self) -> list[asyncio.Task[None]]:
        return [s.task for s in self._slots.values() if s.task is not None and not s.task.done()]

    def close(self) -> None:
        """Refuse new requests and drop follow-ups not yet started; runs in progress go on."""
        self._closed = True
        for slot in self._slots.values():
            slot.pending = None

    async def _serve(self, key: str, slot: _Slot) -> None:
        while slot.pending is not None:
            trigger, slot.pending = slot.pending, None
            # The lock is what the task loop already guarantees; it also guards callers that
            # would run `work` for this key by another path.
            async with slot.lock:
                started = time.monotonic()
                try:
                    await self._work(key, trigger)
                except asyncio.CancelledError:
                    raise
                except Exception:  # one failed run must not stop the next ones
                    log.exception("%s %s failed after %.2fs", self._what, key, time.monotonic() - started)


async def _wait_for(task: asyncio.Task[None]) -> None:
    """Wait for a run without cancelling it with the waiter. A run stopped by shutdown ends its waiters
    quietly: they are APScheduler's jobs, and it logs a job's CancelledError as an exception with a
    traceback, one per scan in progress at every stop. A waiter cancelled itself still raises."""
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if task.cancelled() and (current is None or not current.cancelling()):
            return
        raise
