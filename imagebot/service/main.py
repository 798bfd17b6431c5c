"""`imagebot run` without `--once`: the long-running service.

    load config -> HTTP (main port: /hook/ /status /healthz /readyz /metrics, the status page at /;
                         health port, when given: /healthz /readyz /metrics)
    -> scheduler -> first scans and runs
    SIGHUP or changed files -> reload;  SIGTERM/SIGINT -> stop hooks, finish runs, drain, exit 0

The command line builds `ServiceOptions` and the addresses; this package knows nothing of argparse.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from imagebot.service.runtime import ConfigRejected, Runtime, ServiceOptions

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler
    from starlette.routing import BaseRoute

    from imagebot.service.ui import UiSettings

log = logging.getLogger("imagebot.service")

SHUTDOWN_TIMEOUT = 20.0  # seconds runs in progress get to finish after SIGTERM
NOTIFY_DRAIN_TIMEOUT = 10.0
WATCH_INTERVAL = 2.0


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Listen:
        """`HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces is never the default: say 0.0.0.0)."""
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"{text!r}: expected HOST:PORT, for example 127.0.0.1:9090")
        return cls(host.strip("[]") or "127.0.0.1", int(port))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


ExtraRoutes = Callable[[Runtime], Sequence["BaseRoute"]]


def next_run_of(scheduler: BaseScheduler) -> Callable[[str], float | None]:
    """A job's next run (time.time()), None when it has none: a failed scan is not retried after it."""

    def next_run(job_id: str) -> float | None:
        job = scheduler.get_job(job_id)
        when = getattr(job, "next_run_time", None)  # a job not yet started by the scheduler has none
        return when.timestamp() if when is not None else None

    return next_run


def serve(options: ServiceOptions, listen: Listen, health_listen: Listen | None = None,
          extra_routes: ExtraRoutes | None = None, ui: UiSettings | None = None) -> int:
    """Run the service until SIGTERM or SIGINT; 0 after a clean stop, 1 when it cannot start.

    `health_listen` adds a port of its own for /healthz, /readyz and /metrics, with its own
    connection cap, so that webhook traffic (or an attack on it) can never fail a probe.
    `extra_routes(runtime)` gives more routes for the main port. `ui` sets who may use the status
    page at / (default: pages open, scan/run buttons off).
    """
    # APScheduler logs every job run at INFO; our own lines say what each run did.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    code, abandoned = asyncio.run(_serve(options, listen, health_listen, extra_routes, ui))
    if abandoned:
        # Runs still in a git subprocess after the bound: leave without joining their threads.
        # A push is atomic on the remote, and the local clone is reset before its next use.
        logging.shutdown()
        sys.stderr.flush()
        os._exit(code)
    return code


async def _serve(options: ServiceOptions, listen: Listen, health_listen: Listen | None,
                 extra_routes: ExtraRoutes | None, ui: UiSettings | None) -> tuple[int, bool]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from imagebot.service.app import health_app, service_app
    from imagebot.service.approvals import ApprovalWatch, approval_route
    from imagebot.service.health import Heartbeat, ThreadedHttpServer
    from imagebot.service.hooks import HookEndpoint
    from imagebot.service.limits import HEALTH_LIMITS, Limits
    from imagebot.service.metrics import Metrics
    from imagebot.service.schedule import job_specs, sync_jobs
    from imagebot.service.server import HttpServer
    from imagebot.service.ui import UiSettings, ui_routes
    from imagebot.service.ui.adapter import RuntimeStatus, scheduler_next_runs
    from imagebot.service.watch import ConfigWatcher
    from imagebot.store import Store

    loop = asyncio.get_running_loop()
    metrics = Metrics()
    with Store(options.state_dir) as store:
        runtime = Runtime(options, store, metrics)
        try:
            generation = await asyncio.to_thread(runtime.load)
        except ConfigRejected as err:
            for problem in err.problems:
                print(f"error: {problem}", file=sys.stderr)
            print(f"error: {options.config_path}: the configuration has errors; fix them and start again",
                  file=sys.stderr)
            return 1, False
        runtime.install(generation)

        scheduler = AsyncIOScheduler(event_loop=loop)
        runtime.next_interval_run = next_run_of(scheduler)
        def ready() -> bool:
            return runtime.loaded and scheduler.running

        page = RuntimeStatus(runtime, next_runs=scheduler_next_runs(scheduler), ready=ready)
        hooks = HookEndpoint(runtime.on_hook, generation.receivers, metrics=metrics, on_call=page.calls.record)

        limits = Limits()
        # The status page serves /status too, behind its login when --ui-auth all says so.
        approval_watch = ApprovalWatch(runtime)
        status_page = ui_routes(page, page, ui or UiSettings(), status=runtime.status,
                                approvals=(store, approval_watch.approved))
        app = service_app(runtime, hooks, ready, limits=limits, serve_status=False,
                          extra_routes=[*status_page, approval_route(runtime, approval_watch),
                                        *(extra_routes(runtime) if extra_routes else ())])
        heartbeat = Heartbeat()
        heartbeat_task = loop.create_task(heartbeat.run())
        servers: list[HttpServer | ThreadedHttpServer] = [
            HttpServer(listen.host, listen.port, app, limits=limits, name="main")]
        if health_listen is not None:
            servers.append(ThreadedHttpServer(health_listen.host, health_listen.port,
                                              health_app(metrics, ready, heartbeat.alive, limits=HEALTH_LIMITS),
                                              limits=HEALTH_LIMITS, name="health"))
        for server in servers:
            try:
                await server.start()
            except OSError as err:
                print(f"error: cannot listen on {server.address}: {err.strerror or err}", file=sys.stderr)
                for started in servers:
                    await started.stop()
                heartbeat_task.cancel()
                return 1, False

        def schedule() -> None:
            sync_jobs(scheduler, job_specs(runtime.generation.config, runtime.scheduled_scan,
                                           runtime.scheduled_automation))
            hooks.set_receivers(runtime.generation.receivers)

        reloading: set[asyncio.Task[None]] = set()

        async def reload(reason: str) -> None:
            if await runtime.reload(reason):
                schedule()

        watcher = ConfigWatcher(options.config_path, lambda: reload("files changed"), WATCH_INTERVAL,
                                secrets=options.secrets_dir)

        def on_sighup() -> None:
            async def sighup() -> None:
                watcher.mark_seen()  # this reload reads the files as they are now
                await reload("SIGHUP")

            task = loop.create_task(sighup())
            reloading.add(task)
            task.add_done_callback(reloading.discard)

        stop = asyncio.Event()

        def on_stop(name: str) -> None:
            if not stop.is_set():
                log.info("%s received: stopping", name)
                stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_stop, sig.name)
        loop.add_signal_handler(signal.SIGHUP, on_sighup)

        schedule()
        scheduler.start()
        watch_task = loop.create_task(watcher.run())
        runtime.start()
        approvals_task = loop.create_task(approval_watch.run())
        log.info("imagebot service ready: %d repositories, %d policies, %d automations, %d receivers",
                 len(generation.config.repositories), len(generation.config.policies),
                 len(generation.config.automations), len(generation.receivers),
                 extra={"listen": f"http://{servers[0].address}",
                        **({"health": f"http://{servers[1].address}"} if len(servers) > 1 else {})})
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            watch_task.cancel()
            approvals_task.cancel()
            for task in reloading:
                task.cancel()
            # Hooks first: a push arriving now would start work we are about to refuse.
            await servers[0].stop(grace=2.0)
            scheduler.shutdown(wait=False)
            finished = await runtime.shutdown(SHUTDOWN_TIMEOUT, NOTIFY_DRAIN_TIMEOUT)
            for server in servers[1:]:  # probes answer until the end
                await server.stop(grace=1.0)
            heartbeat_task.cancel()
        log.info("imagebot service stopped" + ("" if finished else " (runs abandoned)"))
        return 0, not finished

