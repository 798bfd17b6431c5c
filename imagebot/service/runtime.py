"""The service's engine: scans and automation runs on demand, fed by schedules, webhooks and reloads.

    scan(repository) --policy changed--> run(automation) --> commit, push, PR, record, notify

Every scan and every automation run goes through a `SerialRuns`, so runs of one key never
overlap and bursts coalesce; different keys run concurrently, so a slow registry delays only
its own repository. The configuration in force is one `Generation` (config, scanner,
dispatcher, receivers), swapped whole on reload, so a run sees one consistent config.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any

from imagebot.config import Config, ImagePolicy, ImageUpdateAutomation, SecretStore
from imagebot.failures import FailureKind
from imagebot.registry._pool import RegistryPool
from imagebot.service.generation import ConfigRejected, Generation, ServiceOptions, load_generation
from imagebot.service.metrics import Metrics
from imagebot.service.receivers import HookResult, ReceiverSettings
from imagebot.service.resolve import ConfigChanges, config_changes, pushed_matches, pushed_tags, resolve_resources
from imagebot.service.retries import QuietRepeats, Retries
from imagebot.service.serial import SerialRuns, Trigger
from imagebot.service.status import StatusBoard, status_view

if TYPE_CHECKING:
    from imagebot.cycle import AutomationOutcome
    from imagebot.notify import Dispatcher
    from imagebot.registry import RequestStats
    from imagebot.scan import PolicyResult, ScanReport
    from imagebot.store import Store

log = logging.getLogger("imagebot.service")

__all__ = ["ConfigRejected", "Generation", "Runtime", "ServiceOptions"]

WINDOW_WAKE_MARGIN = 0.5  # seconds after a window's opening minute begins
STARTUP_SCAN_WAIT = 60.0  # an automation's first run waits this long at most for its repositories' first scans
STARTUP_SCANS_PER_HOST_SLOT = 4  # first scans under way at once, per request slot a registry host has
SETTLE_DELAYS = (0.2, 0.5, 1.0, 2.0)  # seconds before each scan again for an announced tag not yet listed


class Runtime:
    def __init__(self, options: ServiceOptions, store: Store, metrics: Metrics) -> None:
        self.options = options
        self.secrets = SecretStore(options.secrets_dir)
        self.store = store
        self.metrics = metrics
        self.scans = SerialRuns(self._scan, "scan of ImageRepository")
        # every scan's client shares connections, TLS contexts and the per-host request limit
        self.registry_pool = RegistryPool(options.registry_concurrency)
        self.automations = SerialRuns(self._automate, "run of ImageUpdateAutomation")
        self._generation: Generation | None = None
        self._retired: list[Dispatcher] = []  # dispatchers of earlier generations, drained at shutdown
        self._latest: dict[str, PolicyResult] = {}  # policy key -> last good result
        self.board = StatusBoard()  # what /status shows
        self._first_scans: dict[str, asyncio.Event] = {}
        self._awaiting_first_run: set[str] = set()  # automations whose startup run waits for first scans
        self._reload_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._wakeups: dict[str, asyncio.TimerHandle] = {}  # repository key -> minimumAge wake-up
        self._settles: dict[str, asyncio.TimerHandle] = {}  # repository key -> scan for an announced tag
        self._window_wakes: dict[str, asyncio.TimerHandle] = {}  # automation -> its run at a window's opening
        # policy key -> the automations applying it, for the config in force (built on install)
        self._automations_of: dict[str, list[ImageUpdateAutomation]] = {}
        # scheduler job id ("scan ns/name") -> its next run, time.time() (main sets it from the scheduler)
        self.next_interval_run: Callable[[str], float | None] = lambda job_id: None
        self.scan_retries = Retries(
            "scan of ImageRepository", "repository", lambda key: self.scans.request(key, Trigger("retry")),
            options.min_retry_delay, options.max_retry_delay,
            next_run=lambda key: self.next_interval_run(f"scan {key}"),
            on_scheduled=lambda: self.metrics.retry_scheduled("scan"))
        self.run_retries = Retries(
            "run of ImageUpdateAutomation", "automation", lambda key: self.automations.request(key, Trigger("retry")),
            options.min_retry_delay, options.max_retry_delay,
            next_run=lambda key: self.next_interval_run(f"automation {key}"),
            on_scheduled=lambda: self.metrics.retry_scheduled("automation"))

    # --- configuration ---------------------------------------------------------------------------

    @property
    def generation(self) -> Generation:
        if self._generation is None:
            raise RuntimeError("no configuration loaded")
        return self._generation

    @property
    def loaded(self) -> bool:
        return self._generation is not None

    def load(self) -> Generation:
        """Read and check the policy files and build what runs them; raises ConfigRejected."""
        return load_generation(self.options, self.secrets, self.store,
                               on_notify_failure=lambda: self.metrics.failure(FailureKind.NOTIFY))

    def install(self, generation: Generation) -> ConfigChanges:
        """Put `generation` in force; what changed since the previous one (everything, the first time)."""
        previous = self._generation
        changes = config_changes(previous.config if previous else Config(), generation.config)
        if previous is not None and previous.dispatcher is not generation.dispatcher:
            self._retired.append(previous.dispatcher)
        for key in changes.dropped_policies:
            self._latest.pop(key, None)
        self._automations_of = automations_by_policy(generation.config)
        self._generation = generation
        # A removed or suspended object is not retried; a changed one is scanned or run again now.
        config = generation.config
        live_repos = {r.key for r in config.repositories if not r.spec.suspend}
        live_automations = {a.key for a in config.automations if not a.spec.suspend}
        self.scan_retries.keep_only(live_repos.__contains__, "removed or suspended by a reload")
        self.run_retries.keep_only(live_automations.__contains__, "removed or suspended by a reload")
        return changes

    async def reload(self, reason: str) -> bool:
        """Load the files again; on success put them in force and do the work the changes call for.
        On failure keep the config in force, log why, count it and send an error event."""
        async with self._reload_lock:
            started = time.monotonic()
            try:
                generation = await asyncio.to_thread(self.load)
            except ConfigRejected as err:
                self.metrics.failure(FailureKind.CONFIG)
                for problem in err.problems:
                    log.error("config reload (%s) rejected: %s", reason, problem)
                log.error("config reload (%s) failed with %d problem(s): keeping the previous configuration",
                          reason, len(err.problems))
                self._config_error_events(err)
                return False
            changes = self.install(generation)
            log.info("config reloaded (%s) in %.2fs: %d repositories, %d policies, %d automations; "
                     "rescanning %d, rerunning %d", reason, time.monotonic() - started,
                     len(generation.config.repositories), len(generation.config.policies),
                     len(generation.config.automations), len(changes.scan), len(changes.run))
            for key in sorted(changes.scan):
                self.scans.request(key, Trigger("reload"))
            for key in sorted(changes.run):
                self.automations.request(key, Trigger("reload"))
            return True

    def _config_error_events(self, err: ConfigRejected) -> None:
        from imagebot.notify import Event, ObjectRef

        dispatcher = self.generation.dispatcher
        message = "configuration rejected, previous one kept: " + "; ".join(err.problems[:5])
        if len(err.problems) > 5:
            message += f" (and {len(err.problems) - 5} more)"
        # Alerts select events by object: name the objects at fault, or else every automation
        # (they are the ones now running on the previous configuration).
        objects = err.objects or [("ImageUpdateAutomation", a.metadata.namespace, a.metadata.name)
                                  for a in self.generation.config.automations]
        for kind, namespace, name in objects:
            dispatcher.dispatch(Event(severity="error", reason="InvalidConfig", message=message,
                                      involved_object=ObjectRef(kind, namespace, name)))

    # --- starting ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Scan every repository now; run every automation once its repositories have been scanned."""
        config = self.generation.config
        for repo in config.repositories:
            self._first_scans[repo.key] = asyncio.Event()
        self._spawn(self._first_scans_in_turn([repo.key for repo in config.repositories]))
        for automation in config.automations:
            if not automation.spec.suspend:
                self._awaiting_first_run.add(automation.key)
                self._spawn(self._first_run(automation))

    async def _first_scans_in_turn(self, keys: list[str]) -> None:
        """Every repository's first scan, STARTUP_SCANS_PER_HOST_SLOT x the per-host limit at a time.
        Asked for all at once, 2,000 first scans queued for the registry's slots ahead of every scan
        the schedule asked for meanwhile: on a busy machine those waited longer than an interval."""
        queue = iter(keys)

        async def worker() -> None:
            for key in queue:
                if not self._first_scans[key].is_set():  # else the schedule or a webhook got there first
                    await self.scans.join(key, Trigger("startup"))

        workers = STARTUP_SCANS_PER_HOST_SLOT * self.options.registry_concurrency
        await asyncio.gather(*(worker() for _ in range(min(workers, len(keys)))))

    async def _first_run(self, automation: ImageUpdateAutomation) -> None:
        config = self.generation.config
        repos = {p.repository_key for p in config.policies_for(automation)}
        waits = [asyncio.ensure_future(self._first_scans[k].wait()) for k in repos if k in self._first_scans]
        if waits:
            _, late = await asyncio.wait(waits, timeout=STARTUP_SCAN_WAIT)
            for waiter in late:  # a slow registry: run with what the others gave, it triggers us later
                waiter.cancel()
        self._awaiting_first_run.discard(automation.key)
        self.automations.request(automation.key, Trigger("startup"))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- webhooks ------------------------------------------------------------------------------------

    async def on_hook(self, receiver: ReceiverSettings, result: HookResult) -> None:
        """Queue the work a verified webhook asks for and return: the sender is waiting."""
        received = time.monotonic()
        config = self.generation.config
        repos, automations = resolve_resources(config, result.resources)
        if result.pushed:
            # A registry notification says which repository was pushed: scan only the matching ones.
            repos = {key for key in repos if pushed_matches(config, key, result.pushed)}
        pushed = received if result.pushed or repos else None
        for key in sorted(repos):
            self.scans.request(key, Trigger("webhook", pushed, pushed_tags(config, key, result.pushed)))
        for key in sorted(automations):
            self.automations.request(key, Trigger("webhook"))
        if not repos and not automations:
            log.info("webhook receiver=%s: no resource of this receiver matches the push", receiver.key)

    # --- scanning ------------------------------------------------------------------------------------

    async def scheduled_scan(self, key: str) -> None:
        await self.scans.join(key, Trigger("interval"))  # a scan in progress is as good as a new one

    async def _scan(self, key: str, trigger: Trigger) -> None:
        from imagebot.cycle import scan_events
        from imagebot.registry import RegistryClient

        generation = self.generation
        config = generation.config
        # A minimumAge wake-up lists nothing: it neither replaces a pending retry nor shows the registry is back.
        listed = trigger.reason != "of-age"
        if listed:
            self.scan_retries.superseded(key)  # this scan is the retry, or comes before it
        try:
            repo = config.find("ImageRepository", key)
            if repo is None:
                log.info("scan skipped: ImageRepository %s is no longer configured", key, extra={"repository": key})
                self.scan_retries.cancel(key, "no longer configured")
                return
            last = self.board.scans.get(key)
            previous_error = last[1].error if last is not None and trigger.reason == "retry" else None
            started = time.monotonic()
            async with RegistryClient(ca_file=self.options.ca_file, pool=self.registry_pool) as client:
                # a minimumAge wake-up selects again from the stored tags: nothing is listed
                report = await generation.scanner.scan(client, repositories=[key], stored=trigger.reason == "of-age")
            seconds = time.monotonic() - started
            self._record_scan(report, client.stats, seconds, trigger)
            if listed:
                self._retry_failed_scans(report, client.stats)
            dispatcher = QuietRepeats(generation.dispatcher, previous_error)  # as an automation's retry
            for event in scan_events(report):
                dispatcher.dispatch(event)
            changed = self._remember(report, trigger)
            self._wake_when_of_age(key, report, generation.scanner.clock())
            if trigger.tags:
                self._settle(key, report, trigger)
            if changed:
                self._trigger_automations(config, changed, trigger)
        finally:
            first = self._first_scans.get(key)
            if first is not None:
                first.set()

    def _retry_failed_scans(self, report: ScanReport, stats: RequestStats) -> None:
        """Schedule a retry of each failed repository, reset the others' (retries.py says how).

        Every kind of failure is retried, CONFIG included (a secret that cannot be read, an
        exclusionList that does not compile): Flux's image-reflector-controller returns those errors
        from its reconcile too, and so requeues them with backoff, and a missing secret may appear.
        A rate-limited retry waits at least as long as the registry's latest Retry-After asked."""
        for result in report.repositories:
            key = result.repository.key
            if not result.error:
                self.scan_retries.succeeded(key)
                continue
            not_before = None
            if result.error_kind == FailureKind.RATE_LIMIT and stats.resume_at:
                not_before = max(stats.resume_at.values()) - time.monotonic()  # one repository per client
            self.scan_retries.failed(key, result.error, not_before=not_before, fields={"image": result.image})

    def _settle(self, key: str, report: ScanReport, trigger: Trigger) -> None:
        """Scan again, a little later, when the tag list lacks a tag the registry announced.

        distribution announces a manifest push before it writes the tag's link, and registries on
        eventually consistent storage list late: the scan a notification starts at once can miss
        the very tag it announced, and the push would wait for the next interval."""
        (result,) = report.repositories
        if result.error or result.suspended:
            return  # a failed scan is reported as such; a suspended one lists nothing
        stored = self.generation.scanner.store.tags(result.image)
        missing = trigger.tags - set(stored.tags if stored else ())
        if not missing:
            return
        names = ", ".join(sorted(missing))
        fields = {"repository": key, "image": result.image, "tags": sorted(missing)}
        if trigger.attempt >= len(SETTLE_DELAYS):
            log.warning("the registry's tag list still lacks the announced tag %s after %d scans; the next "
                        "scheduled scan will pick it up if it appears", names, trigger.attempt + 1, extra=fields)
            return
        delay = SETTLE_DELAYS[trigger.attempt]
        log.info("the announced tag %s is not listed yet: scanning again in %.1f s", names, delay, extra=fields)
        follow_up = Trigger("settle", trigger.pushed_at, frozenset(missing), trigger.attempt + 1)
        previous = self._settles.pop(key, None)
        if previous is not None:
            previous.cancel()
        self._settles[key] = asyncio.get_running_loop().call_later(
            delay, lambda: self.scans.request(key, follow_up))

    def _wake_when_of_age(self, key: str, report: ScanReport, now: datetime) -> None:
        """A one-off timer for when the next better tag of this repository's policies comes of age."""
        wakes = [r.wake_at for r in report.policies if r.wake_at is not None]
        previous = self._wakeups.pop(key, None)
        if previous is not None:
            previous.cancel()
        if wakes:
            delay = max(0.0, (min(wakes) - now).total_seconds()) + 0.5  # a little late, never early
            self._wakeups[key] = asyncio.get_running_loop().call_later(
                delay, lambda: self.scans.request(key, Trigger("of-age")))
            log.info("a better tag comes of age at %s: selecting again then", min(wakes).isoformat(),
                     extra={"repository": key})

    def _record_scan(self, report: ScanReport, stats: RequestStats, seconds: float, trigger: Trigger) -> None:
        record_registry_stats(self.metrics, stats)
        for result in report.repositories:
            key = result.repository.key
            self.board.scanned(result, seconds=seconds)
            fields = {"repository": key, "image": result.image, "trigger": trigger.reason}
            if result.error:
                self.metrics.scan_finished(key, ok=False, seconds=seconds)
                self.metrics.failure(result.error_kind or FailureKind.REGISTRY)
                log.error("scan failed: %s", result.error, extra=fields)
            else:
                self.metrics.scan_finished(key, ok=True, seconds=seconds, tags=result.tags)
                log.info("scanned %d tags in %.3fs%s", result.tags, seconds,
                         " (suspended: stored tags)" if result.suspended else "", extra=fields)

    def _remember(self, report: ScanReport, trigger: Trigger) -> list[ImagePolicy]:
        """Keep each policy's last good result; the policies whose latest image changed."""
        changed = []
        for result in report.policies:
            fields = {"policy": result.policy.key}
            self.board.policy_evaluated(result.policy.key, result.error)
            if result.error:
                log.warning("policy not evaluated: %s", result.error, extra=fields)
                continue
            if result.latest is None:
                continue
            before = self._latest.get(result.policy.key)
            self._latest[result.policy.key] = result
            if result.changed:
                self.board.policy_changed(result.policy.key, before.latest if before else None)
                self.metrics.policy_changed(result.policy.key)
                changed.append(result.policy)
                log.info("latest image is now %s:%s", result.latest.name, result.latest.tag,
                         extra={**fields, "digest": result.latest.digest, "trigger": trigger.reason})
        return changed

    def _trigger_automations(self, config: Config, policies: list[ImagePolicy], trigger: Trigger) -> None:
        # The index, not config.policies_for per automation: that is automations x policies of work for
        # every changed scan, which at start-up (every policy changes) held the event loop for seconds.
        index = self._automations_of if config is self.generation.config else automations_by_policy(config)
        wanted = {a.key for p in policies for a in index.get(p.key, ())}
        for automation in config.automations:
            if automation.key not in wanted or automation.spec.suspend:
                continue
            # A startup scan's change is covered by the automation's startup run, which waits for them;
            # any other change (a push) runs it now, whatever a slow registry's first scan is doing.
            if trigger.reason == "startup" and automation.key in self._awaiting_first_run:
                continue
            self.automations.request(automation.key, Trigger("policy-changed", trigger.pushed_at))

    # --- automations ---------------------------------------------------------------------------------

    async def scheduled_automation(self, key: str) -> None:
        await self.automations.run(key, Trigger("interval"))

    async def _automate(self, key: str, trigger: Trigger) -> None:
        from imagebot.cycle import run_automations
        from imagebot.release.lookup import ReleaseFinder
        from imagebot.scan import ScanReport

        generation = self.generation
        config = generation.config
        self.run_retries.superseded(key)  # this run is the retry, or comes before it
        automation = config.find("ImageUpdateAutomation", key)
        if not isinstance(automation, ImageUpdateAutomation):
            log.info("run skipped: ImageUpdateAutomation %s is no longer configured", key, extra={"automation": key})
            self.run_retries.cancel(key, "no longer configured")
            return
        if automation.spec.suspend:
            log.info("run skipped: suspended", extra={"automation": key})
            self.run_retries.cancel(key, "suspended")
            return
        report = ScanReport(policies=[self._latest[p.key] for p in config.policies_for(automation)
                                      if p.key in self._latest])
        # Automations sharing a clone (same URL and branch) take turns at its lock (Checkout.locked).
        started = time.monotonic()
        releases = ReleaseFinder(config, self.secrets, ca_file=self.options.ca_file, pool=self.registry_pool,
                                 loop=asyncio.get_running_loop())
        dispatcher = generation.dispatcher
        last = self.board.runs.get(key)
        if trigger.reason == "retry" and last is not None and last[1].status == "failed":
            dispatcher = QuietRepeats(dispatcher, last[1].error)  # type: ignore[assignment]
        outcomes = await run_automations(config, report, self.secrets, self.store, self.options.state_dir,
                                         automations=[automation], dispatcher=dispatcher, releases=releases)
        seconds = time.monotonic() - started
        self.metrics.automation_run(key, seconds)
        for outcome in outcomes:
            self._record_outcome(outcome, trigger, seconds)

    def _record_outcome(self, outcome: AutomationOutcome, trigger: Trigger, seconds: float) -> None:
        key = outcome.automation.key
        self.board.ran(outcome)
        fields: dict[str, object] = {"automation": key, "trigger": trigger.reason, "status": outcome.status}
        if outcome.status == "committed":
            self.metrics.committed(key)
            self.metrics.pushed(key)
            if trigger.pushed_at is not None:
                latency = time.monotonic() - trigger.pushed_at
                self.metrics.push_to_commit_latency(latency)
                fields["push_to_commit_seconds"] = round(latency, 3)
            log.info("run finished in %.3fs: committed %s", seconds, (outcome.commit or "")[:12], extra=fields)
        elif outcome.status == "failed":
            log.info("run finished in %.3fs: failed", seconds, extra=fields)
        else:
            log.info("run finished in %.3fs: %s", seconds, outcome.status, extra=fields)
        if outcome.status == "waiting" and outcome.window_opens is not None:
            self._wake_at_window(key, outcome.window_opens.timestamp())
        if outcome.pull_request_url:
            self.metrics.pull_request(key)
        if outcome.status == "failed":
            self.metrics.failure(outcome.error_kind or FailureKind.INTERNAL)
            # Every failed run is retried, as Flux's image-automation-controller requeues every reconcile
            # error: git and forges fail transiently, and a push declined now may be accepted later.
            # Anything else (unchanged, waiting for a window or an approval, suspended) is no failure.
            self.run_retries.failed(key, outcome.error or "failed", fields={"trigger": trigger.reason})
        else:
            self.run_retries.succeeded(key)

    def _wake_at_window(self, key: str, opens_at: float) -> None:
        """Run the automation when its delivery window opens (one wake-up per automation, the latest
        asked for); a little after the minute begins, so that the run finds the window open."""
        old = self._window_wakes.pop(key, None)
        if old is not None:
            old.cancel()
        delay = max(0.0, opens_at - time.time()) + WINDOW_WAKE_MARGIN
        self._window_wakes[key] = asyncio.get_running_loop().call_later(
            delay, self.automations.request, key, Trigger("window"))
        log.info("delivery waits for the window opening in %.0fs", delay, extra={"automation": key})

    # --- status ------------------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        """What /status shows: each configured object and what it did last (None: not yet)."""
        from imagebot.service.approvals import approvals_view

        generation = self.generation
        view = status_view(generation.config, self.board, self._latest, generation.receivers,
                           scan_retries=self.scan_retries.due(), run_retries=self.run_retries.due())
        view["approvals"] = approvals_view(self.store)  # spec.approval: requests and who decided them
        return view

    # --- stopping ------------------------------------------------------------------------------------

    async def shutdown(self, timeout: float, notify_timeout: float = 10.0) -> bool:
        """Start nothing new, give runs in progress `timeout` seconds, then deliver what notifications
        are pending. True when every run finished in time."""
        self.scans.close()
        self.automations.close()
        for wakeup in (*self._wakeups.values(), *self._settles.values()):
            wakeup.cancel()
        for wake in self._window_wakes.values():
            wake.cancel()
        self.scan_retries.close()
        self.run_retries.close()
        for task in self._background:
            task.cancel()
        # Scans only read registries: stop them now (a hanging registry must not hold the exit);
        # automation runs write to git: let them finish.
        scans = self.scans.running()
        for task in scans:
            task.cancel()
        await asyncio.gather(*scans, return_exceptions=True)
        running = self.automations.running()
        finished = True
        if running:
            log.info("waiting up to %.0fs for %d run(s) in progress", timeout, len(running))
            _, pending = await asyncio.wait(running, timeout=timeout)
            if pending:
                finished = False
                log.error("%d run(s) still in progress after %.0fs are abandoned: %s", len(pending), timeout,
                          ", ".join(t.get_name() for t in pending))
                for task in pending:
                    task.cancel()
        await self.registry_pool.aclose()
        dispatchers = [*self._retired, *([self._generation.dispatcher] if self._generation else [])]
        await asyncio.gather(*(d.drain(timeout=notify_timeout) for d in dispatchers))
        return finished


def automations_by_policy(config: Config) -> dict[str, list[ImageUpdateAutomation]]:
    """Policy key -> the automations that apply it (Config.policies_for, inverted once)."""
    index: dict[str, list[ImageUpdateAutomation]] = {}
    for automation in config.automations:
        for policy in config.policies_for(automation):
            index.setdefault(policy.key, []).append(automation)
    return index


def record_registry_stats(metrics: Metrics, stats: RequestStats) -> None:
    """One scan's registry requests, by host and status, into the service's counters."""
    for (host, status), count in stats.by_host_status.items():
        metrics.registry_requests.labels(host, str(status)).inc(count)
        if status == 429:
            metrics.rate_limited.labels(host).inc(count)
    for host, count in stats.transport_errors.items():
        metrics.registry_requests.labels(host, "error").inc(count)
    for host, durations in stats.seconds_by_host.items():
        histogram = metrics.registry_request_duration.labels(host)
        for seconds in durations:
            histogram.observe(seconds)
