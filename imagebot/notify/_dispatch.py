"""Routing events to providers through Alerts, in the background.

`dispatch` only schedules work on the event loop: a slow or dead webhook delays nothing but its
own delivery. Each send retries on its own; a final failure is logged (redacted) and dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from imagebot import redact as _redact
from imagebot.retry import Backoff

from ._factory import Notifier, notifier_for
from ._model import AlertRule, Event, NotifyConfigError, NotifyError, ProviderSettings
from ._progress import watch_requests
from ._text import SUMMARY_KEY

logger = logging.getLogger("imagebot.notify")

PER_PROVIDER_CONCURRENCY = 4  # a flapping webhook must not open hundreds of connections
MAX_PENDING = 1000  # beyond this many sends in flight, new ones are dropped (and logged)


@dataclass(frozen=True)
class Route:
    alert: AlertRule
    provider: ProviderSettings


class Dispatcher:
    """Flux's notification pipeline: every Alert matching an event sends it through its Provider.

    Construction validates everything (unknown provider, bad address, bad regex raise
    NotifyConfigError), so a bad config is refused at load time rather than at the first event.
    """

    def __init__(
        self,
        providers: Iterable[ProviderSettings],
        alerts: Iterable[AlertRule],
        retries: int = 3,
        backoff: Backoff | None = None,
        on_failure: Callable[[Route], None] | None = None,
    ) -> None:
        self._on_failure = on_failure  # e.g. a metrics counter; called once per failed delivery
        self._providers: dict[tuple[str, str], ProviderSettings] = {}
        self._notifiers: dict[tuple[str, str], Notifier] = {}
        self._secrets: list[str] = []
        for settings in providers:
            key = (settings.namespace, settings.name)
            if key in self._providers:
                raise NotifyConfigError(f"Provider {settings.ref} is defined twice")
            self._providers[key] = settings
            self._notifiers[key] = notifier_for(settings, retries=retries, backoff=backoff)
            self._secrets.extend(settings.secrets())
        self._alerts = list(alerts)
        for alert in self._alerts:
            if (alert.namespace, alert.provider) not in self._providers:
                raise NotifyConfigError(
                    f"Alert {alert.ref}: providerRef {alert.provider!r} names no Provider in namespace "
                    f"{alert.namespace!r}; an Alert can only use a Provider of its own namespace"
                )
        self._tasks: set[asyncio.Task[None]] = set()
        self._limits: dict[tuple[str, str], asyncio.Semaphore] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def routes(self, event: Event) -> list[Route]:
        """The (alert, provider) pairs an event goes to; suspended alerts and providers are skipped."""
        out = []
        for alert in self._alerts:
            provider = self._providers[(alert.namespace, alert.provider)]
            if not provider.suspend and alert.matches(event):
                out.append(Route(alert, provider))
        return out

    def dispatch(self, event: Event, on_done: Callable[[], None] | None = None,
                 on_start: Callable[[], None] | None = None) -> int:
        """Schedule the event's deliveries and return how many; never raises, never waits.

        Call it from the event loop, or from another thread once the dispatcher has been used on
        its loop (then the sends are handed over thread-safely). `on_start` is called just before the
        first request of the event goes out, `on_done` once every route has had its send (delivered or
        finally failed); neither for sends cancelled or dropped before that."""
        try:
            routes = self.routes(event)
            if not routes:
                return 0
            done = _Countdown(len(routes), on_done, on_start)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None:
                self._loop = loop
                for route in routes:
                    self._schedule(route, event, done)
            elif self._loop is not None and not self._loop.is_closed():
                for route in routes:
                    self._loop.call_soon_threadsafe(self._schedule, route, event, done)
            else:
                logger.error(
                    "notification dropped: dispatch() called with no event loop to send on (%s %s)",
                    event.severity.value,
                    event.reason,
                )
                return 0
            return len(routes)
        except Exception as err:  # dispatch sits on callers' paths: it reports, it does not break them
            logger.error("notification dispatch failed: %s: %s", type(err).__name__, self._scrub(str(err)))
            return 0

    async def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for sends in flight; cancel what is left. True if none was left."""
        await asyncio.sleep(0)  # let sends handed over by call_soon_threadsafe get scheduled
        tasks = set(self._tasks)
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=max(0.0, timeout))
        if not pending:
            return True
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        logger.warning("%d notification(s) still in flight after %.1fs were abandoned", len(pending), timeout)
        return False

    def _schedule(self, route: Route, event: Event, done: _Countdown | None = None) -> None:
        if len(self._tasks) >= MAX_PENDING:
            logger.warning(
                "notification for alert %s dropped: %d sends already in flight", route.alert.ref, len(self._tasks)
            )
            return
        task = asyncio.get_running_loop().create_task(self._send(route, event, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _failed(self, route: Route) -> None:
        if self._on_failure is not None:
            self._on_failure(route)

    async def _send(self, route: Route, event: Event, done: _Countdown | None = None) -> None:
        if route.alert.event_metadata:
            event = event.with_metadata({k: v for k, v in route.alert.event_metadata.items()
                                         if k not in event.metadata})
        if route.alert.summary:
            event = event.with_metadata({SUMMARY_KEY: route.alert.summary})
        key = (route.provider.namespace, route.provider.name)
        limit = self._limits.setdefault(key, asyncio.Semaphore(PER_PROVIDER_CONCURRENCY))
        watch_requests(done.started if done is not None else None)
        try:
            async with limit:
                await self._notifiers[key].send(event)
            logger.debug(
                "notification sent: alert %s, provider %s, %s", route.alert.ref, route.provider.ref, event.reason
            )
        except NotifyError as err:
            logger.warning("notification for alert %s failed: %s", route.alert.ref, self._scrub(str(err)))
            self._failed(route)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a bug in one provider must not kill the others' deliveries
            self._failed(route)
            logger.error(
                "notification for alert %s via provider %s failed unexpectedly: %s: %s",
                route.alert.ref,
                route.provider.ref,
                type(err).__name__,
                self._scrub(str(err)),
            )
        if done is not None:
            done.tick()

    def _scrub(self, text: str) -> str:
        return _redact.scrub(text, self._secrets)


class _Countdown:
    """Calls `on_start` before the first request of an event, `on_done` when its `count` sends finished."""

    def __init__(self, count: int, on_done: Callable[[], None] | None,
                 on_start: Callable[[], None] | None = None) -> None:
        self.left, self.on_done, self.on_start = count, on_done, on_start

    def started(self) -> None:
        callback, self.on_start = self.on_start, None
        _call(callback)

    def tick(self) -> None:
        self.left -= 1
        if self.left == 0:
            _call(self.on_done)


def _call(callback: Callable[[], None] | None) -> None:
    if callback is None:
        return
    try:
        callback()
    except Exception as err:  # the callback is the caller's bookkeeping: report, never break sends
        logger.error("around a notification: %s: %s", type(err).__name__, err)
