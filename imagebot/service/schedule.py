"""Interval jobs on APScheduler 3's AsyncIOScheduler: one per ImageRepository, one per automation.

Jobs are kept in step with the config: a reload adds, removes and reschedules only the jobs
whose object appeared, disappeared or changed its interval, so a reload does not reset every
clock. Each job only asks the runtime for a run: overlap and coalescing are the runtime's
business (max_instances=1 here as well, so the scheduler never queues a second copy).
"""

from __future__ import annotations

import logging
import math
import random
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from imagebot.config import Config

log = logging.getLogger("imagebot.service")

MIN_INTERVAL = 1.0  # seconds; Flux rejects 0, we take it as "as often as is sane"
MAX_JITTER = 30.0


def jitter_for(interval: float) -> float:
    """A little jitter (a tenth of the interval, at most 30 s) so that repositories sharing a
    registry do not all call it in the same second."""
    return min(interval / 10, MAX_JITTER)


@dataclass(frozen=True)
class JobSpec:
    id: str
    interval: float
    func: Callable[[str], Awaitable[None]]
    key: str


def job_specs(config: Config, scan: Callable[[str], Awaitable[None]],
              automate: Callable[[str], Awaitable[None]]) -> dict[str, JobSpec]:
    """The jobs a config calls for; suspended objects get none."""
    specs: dict[str, JobSpec] = {}
    for repo in config.repositories:
        if not repo.spec.suspend:
            job_id = f"scan {repo.key}"
            specs[job_id] = JobSpec(job_id, max(repo.spec.interval, MIN_INTERVAL), scan, repo.key)
    for automation in config.automations:
        if not automation.spec.suspend:
            job_id = f"automation {automation.key}"
            specs[job_id] = JobSpec(job_id, max(automation.spec.interval, MIN_INTERVAL), automate, automation.key)
    return specs


def sync_jobs(scheduler: AsyncIOScheduler, specs: dict[str, JobSpec]) -> None:
    """Make the scheduler's jobs match `specs`: remove the stale, add the new, reschedule the changed."""
    for job in scheduler.get_jobs():
        spec = specs.get(job.id)
        if spec is None:
            job.remove()
            log.info("unscheduled %s", job.id)
        elif job.trigger.interval_length != spec.interval:
            job.reschedule(_trigger(spec))
            log.info("rescheduled %s every %gs", job.id, spec.interval)
    existing = {job.id for job in scheduler.get_jobs()}
    for spec in specs.values():
        if spec.id in existing:
            continue
        scheduler.add_job(
            spec.func, _trigger(spec), args=[spec.key], id=spec.id, name=spec.id,
            max_instances=1, coalesce=True, misfire_grace_time=None, replace_existing=True,
        )
        log.debug("scheduled %s every %gs", spec.id, spec.interval)


def phase(job_id: str, interval: float) -> float:
    """Where in its interval a job fires, from its id: jobs added together (every repository at
    start-up) spread over the whole interval instead of all firing within its jitter, a burst that
    queued 500 scans behind each other every minute. The same id keeps its place across restarts."""
    return interval * zlib.crc32(job_id.encode()) / 2**32


class SteadyInterval(IntervalTrigger):
    """APScheduler's IntervalTrigger with the jitter drawn afresh for each run instead of added onto
    the last one: run n is due at start + n x interval + a jitter between 0 and `jitter`.
    IntervalTrigger counts each interval from the previous run's jittered time, so a one-minute
    schedule drifted to one run every 63 s on average, and a late draw plus a scan held up for a
    second or two went past interval + jitter (2,000 repositories: some every start-up)."""

    __slots__ = ()

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        if previous_fire_time is None:
            return super().get_next_fire_time(None, now)
        start = self.start_date.timestamp()
        # The previous run's slot: its time less its jitter, which is under a tenth of the interval
        # (the millisecond absorbs the microseconds a datetime rounds to).
        slot = math.floor((previous_fire_time.timestamp() - start + 0.001) / self.interval_length)
        due = start + (slot + 1) * self.interval_length + (random.uniform(0, self.jitter) if self.jitter else 0.0)
        if self.end_date is not None and due > self.end_date.timestamp():
            return None
        return datetime.fromtimestamp(due, tz=self.timezone)


def _trigger(spec: JobSpec) -> IntervalTrigger:
    start = datetime.now().astimezone() + timedelta(seconds=phase(spec.id, spec.interval))
    return SteadyInterval(seconds=spec.interval, jitter=jitter_for(spec.interval), start_date=start)
