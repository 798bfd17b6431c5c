"""Interval jobs on APScheduler 3's AsyncIOScheduler: one per ImageRepository, one per automation.

Jobs are kept in step with the config: a reload adds, removes and reschedules only the jobs
whose object appeared, disappeared or changed its interval, so a reload does not reset every
clock. Each job only asks the runtime for a run: overlap and coalescing are the runtime's
business (max_instances=1 here as well, so the scheduler never queues a second copy).
"""

from __future__ import annotations

import logging
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


def _trigger(spec: JobSpec) -> IntervalTrigger:
    start = datetime.now().astimezone() + timedelta(seconds=phase(spec.id, spec.interval))
    return IntervalTrigger(seconds=spec.interval, jitter=jitter_for(spec.interval), start_date=start)
