"""A failed scan is tried again after a short, growing backoff (Flux's --min-retry-delay and
--max-retry-delay), not only at the repository's next interval: the engine against a real registry
behind a front that fails on demand."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from imagebot.service.main import next_run_of
from imagebot.service.metrics import Metrics
from imagebot.service.runtime import Runtime, ServiceOptions
from imagebot.service.schedule import job_specs, sync_jobs
from imagebot.service.serial import Trigger
from imagebot.store import Store
from tests.service_run._flaky import FlakyFront
from tests.support.registry import start_registry
from tests.support.webhookreceiver import WebhookReceiver

KEY = "team/app"


def repository(name: str, host: str, interval: str = "1h") -> str:
    # spec.timeout bounds the client's own retries of a failing registry: each failed scan ends in ~1 s
    return f"""apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {{name: {name}, namespace: team}}
spec: {{image: {host}/team/app, interval: {interval}, timeout: 1s, insecure: true}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {{name: {name}, namespace: team}}
spec:
  imageRepositoryRef: {{name: {name}}}
  policy: {{semver: {{range: ">=1.0.0"}}}}
"""


def scans(metrics: Metrics, result: str) -> int:
    return int(sum(s.value for s in metrics.scans.collect()[0].samples
                   if s.name.endswith("_total") and s.labels["result"] == result))


def retries_counted(metrics: Metrics, kind: str = "scan") -> int:
    return int(sum(s.value for s in metrics.retries.collect()[0].samples
                   if s.name.endswith("_total") and s.labels["kind"] == kind))


async def until(check: Callable[[], bool], timeout: float = 15.0, step: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(step)


def run_engine(tmp_path: Path, config: str, scenario: Callable[[Runtime, Metrics], Awaitable[None]],
               **options: float) -> None:
    folder = tmp_path / "config"
    folder.mkdir(exist_ok=True)
    (folder / "c.yaml").write_text(config)

    async def main() -> None:
        with Store(tmp_path / "state") as store:
            metrics = Metrics()
            runtime = Runtime(ServiceOptions(folder, None, tmp_path / "state", **options), store, metrics)
            runtime.install(runtime.load())
            try:
                await scenario(runtime, metrics)
            finally:
                await runtime.shutdown(timeout=5)

    asyncio.run(main())


def logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in r.getMessage() for r in caplog.records)


def retry_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "retrying in" in r.getMessage()]


def alerting(url: str, kind: str = "ImageRepository", name: str = "scans") -> str:
    """A generic Provider and an Alert for every event of `kind`'s objects (by default the scan failures)."""
    return f"""---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: hook, namespace: team}}
spec: {{type: generic, address: "{url}"}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: {name}, namespace: team}}
spec:
  providerRef: {{name: hook}}
  eventSeverity: info
  eventSources: [{{kind: {kind}, name: "*"}}]
"""


def test_a_registry_that_fails_twice_is_scanned_again_within_seconds_not_at_the_interval(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="imagebot.service")
    with (start_registry(tmp_path / "reg") as registry, FlakyFront(registry.url) as front,
          WebhookReceiver("generic") as receiver):
        registry.push_image("team/app", "1.0.0")
        front.fail(503)
        seen: dict[str, object] = {}

        async def scenario(runtime: Runtime, metrics: Metrics) -> None:
            started = time.monotonic()
            await runtime.scans.run(KEY, Trigger("startup"))
            seen["status_after_first"] = runtime.status()["repositories"][0]  # type: ignore[index]
            await until(lambda: scans(metrics, "error") >= 2)
            front.recover()  # the second retry is at least 0.4 s away: it finds the registry back
            await until(lambda: scans(metrics, "ok") >= 1)
            seen["took"] = time.monotonic() - started
            seen["status"] = runtime.status()["repositories"][0]  # type: ignore[index]
            seen["errors"], seen["retries"] = scans(metrics, "error"), retries_counted(metrics)
            seen["failures_after"] = runtime.scan_retries.failures(KEY)

        run_engine(tmp_path, repository("app", front.host) + alerting(receiver.url()), scenario,
                   min_retry_delay=0.2, max_retry_delay=2.0)
        alerts = [r.json() for r in receiver.requests]

    # one alert for the outage: the retry that failed as the first scan did is not announced again
    assert [(a["reason"], a["involvedObject"]["name"]) for a in alerts] == [("ScanFailed", "app")]
    assert "503" in alerts[0]["message"]
    first = seen["status_after_first"]
    assert isinstance(first, dict) and first["error"] and "503" in first["error"]
    assert first["nextRetry"] is not None  # /status says when the failing repository is tried again
    assert seen["errors"] == 2 and seen["retries"] == 2
    final = seen["status"]
    assert isinstance(final, dict)
    assert final["error"] is None and final["tags"] == 1 and final["nextRetry"] is None
    assert seen["failures_after"] == 0  # success resets the backoff
    assert isinstance(seen["took"], float) and seen["took"] < 15  # the interval is an hour
    records = retry_records(caplog)
    assert [r.__dict__["attempt"] for r in records] == [1, 2]
    delays = [r.__dict__["retry_in"] for r in records]
    assert 0.2 <= delays[0] <= 0.24 and 0.4 <= delays[1] <= 0.48  # min, then doubled (+ at most 20 % jitter)
    assert all(r.__dict__["repository"] == KEY and "503" in r.getMessage() for r in records)
    assert front.failed >= 2 and front.passed >= 1


def test_the_backoff_is_capped_and_never_runs_past_the_next_interval_scan(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A registry down for good, a 3 s interval and a large --max-retry-delay: retries at 0.2, 0.4,
    0.8 ... s until the next one would land after the interval scan; then the interval scan runs."""
    caplog.set_level(logging.INFO, logger="imagebot.service")
    with start_registry(tmp_path / "reg") as registry, FlakyFront(registry.url) as front:
        front.fail(503)
        checks: list[tuple[float, float | None]] = []  # (when the retry is due, the interval scan's next run)

        async def scenario(runtime: Runtime, metrics: Metrics) -> None:
            scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
            runtime.next_interval_run = next_run_of(scheduler)
            sync_jobs(scheduler, job_specs(runtime.generation.config, runtime.scheduled_scan,
                                           runtime.scheduled_automation))
            scheduler.start()
            try:
                await runtime.scans.run(KEY, Trigger("startup"))
                deadline = time.monotonic() + 12
                # (the client's own retries of the 503s can end a scan just before an interval scan: then
                # no retry is pending at first, and the next failure's is)
                while time.monotonic() < deadline and not (checks and logged(caplog, "comes before a retry would")):
                    for due in runtime.scan_retries.due().values():
                        checks.append((due, runtime.next_interval_run(f"scan {KEY}")))
                    await asyncio.sleep(0.02)
                await until(lambda: any(r.getMessage().startswith("scan failed") and
                                        r.__dict__.get("trigger") == "interval" for r in caplog.records), timeout=8)
            finally:
                scheduler.shutdown(wait=False)

        run_engine(tmp_path, repository("app", front.host, interval="3s"), scenario,
                   min_retry_delay=0.2, max_retry_delay=600.0)

    assert checks, "no retry was ever pending"
    assert all(next_run is not None and due < next_run for due, next_run in checks)
    skipped = [r for r in caplog.records if "comes before a retry would" in r.getMessage()]
    assert skipped and skipped[0].__dict__["repository"] == KEY


def test_a_pending_retry_of_a_removed_repository_is_cancelled_by_a_reload(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="imagebot.service")
    with start_registry(tmp_path / "reg") as registry, FlakyFront(registry.url) as front:
        registry.push_image("team/app", "1.0.0")
        front.fail(503)
        seen: dict[str, object] = {}

        async def scenario(runtime: Runtime, metrics: Metrics) -> None:
            await asyncio.gather(runtime.scans.run(KEY, Trigger("startup")),
                                 runtime.scans.run("team/other", Trigger("startup")))
            seen["pending_before"] = sorted(runtime.scan_retries.due())
            # the reload drops team/app; team/other stays
            (tmp_path / "config" / "c.yaml").write_text(repository("other", front.host))
            assert await runtime.reload("test")
            seen["pending_after"] = sorted(runtime.scan_retries.due())
            errors = scans(metrics, "error")
            front.recover()
            await until(lambda: scans(metrics, "ok") >= 1)  # team/other's retry
            await asyncio.sleep(1.5)  # team/app's retry was due by now (1 s + 20 %)
            seen["new_errors_or_scans"] = scans(metrics, "error") - errors + scans(metrics, "ok")

        config = repository("app", front.host) + "---\n" + repository("other", front.host)
        run_engine(tmp_path, config, scenario, min_retry_delay=1.0, max_retry_delay=2.0)

    assert seen["pending_before"] == ["team/app", "team/other"]
    assert seen["pending_after"] == ["team/other"]
    assert seen["new_errors_or_scans"] == 1  # team/other's retry only: team/app was never scanned again
    assert any("pending retry cancelled" in r.getMessage() and r.__dict__.get("repository") == KEY
               for r in caplog.records)


def test_a_rate_limited_scan_is_not_retried_before_the_registrys_retry_after(tmp_path: Path) -> None:
    with start_registry(tmp_path / "reg") as registry, FlakyFront(registry.url) as front:
        front.fail(429, retry_after="120")  # over the client's 60 s: it gives up the host at once
        seen: dict[str, object] = {}

        async def scenario(runtime: Runtime, metrics: Metrics) -> None:
            await runtime.scans.run(KEY, Trigger("startup"))
            seen["error"] = runtime.status()["repositories"][0]["error"]  # type: ignore[index]
            seen["wait"] = runtime.scan_retries.due()[KEY] - time.time()

        run_engine(tmp_path, repository("app", front.host), scenario, min_retry_delay=0.2, max_retry_delay=2.0)

    assert "429" in str(seen["error"])
    wait = seen["wait"]
    assert isinstance(wait, float) and 110 < wait <= 120  # not 0.2 s, and not capped by --max-retry-delay


def test_a_minimum_age_wakeup_neither_replaces_a_pending_retry_nor_resets_it(tmp_path: Path) -> None:
    """An of-age wake-up selects from the stored tags without calling the registry: it says nothing
    of whether the registry is back."""
    with start_registry(tmp_path / "reg") as registry, FlakyFront(registry.url) as front:
        registry.push_image("team/app", "1.0.0")
        seen: dict[str, object] = {}

        async def scenario(runtime: Runtime, metrics: Metrics) -> None:
            await runtime.scans.run(KEY, Trigger("startup"))  # tags stored
            front.fail(503)
            await runtime.scans.run(KEY, Trigger("interval"))
            due = runtime.scan_retries.due()
            await runtime.scans.run(KEY, Trigger("of-age"))
            seen["before"], seen["after"] = due, runtime.scan_retries.due()
            seen["failures"] = runtime.scan_retries.failures(KEY)

        run_engine(tmp_path, repository("app", front.host), scenario, min_retry_delay=5.0, max_retry_delay=10.0)

    assert KEY in seen["before"]  # type: ignore[operator]
    assert seen["after"] == seen["before"] and seen["failures"] == 1
