"""The health port: its own server on its own event loop, in a thread, so no load on the webhook
port can delay a probe; and the heartbeat by which its /healthz still tells whether the
service's own loop is running.

Why a thread: both ports on one event loop share its turns. A flood that keeps the loop busy
(thousands of refused webhooks a second) made probes wait over a second, the kubelet's default
probe timeout, although every answer was right. A loop of its own gets the interpreter every few
milliseconds whatever the other does. What it reads is safe across threads: the readiness flag,
the heartbeat's time, and prometheus_client's registry (locked).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from imagebot.service.limits import Limits
from imagebot.service.server import HttpServer

log = logging.getLogger("imagebot.service")

LOOP_STALLED = 30.0  # seconds without a heartbeat after which /healthz on the health port says 503


class Heartbeat:
    """A beat from the service's event loop every second; `alive()` is safe from any thread."""

    def __init__(self, stalled_after: float = LOOP_STALLED) -> None:
        self.stalled_after = stalled_after
        self._last = time.monotonic()

    async def run(self) -> None:
        while True:
            self._last = time.monotonic()
            await asyncio.sleep(1.0)

    def alive(self) -> bool:
        return time.monotonic() - self._last < self.stalled_after


class ThreadedHttpServer:
    """An HttpServer running on an event loop of its own in a daemon thread; started and stopped
    from the caller's loop."""

    def __init__(self, host: str, port: int, app: Any, *, limits: Limits, name: str) -> None:
        self._server = HttpServer(host, port, app, limits=limits, name=name)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._grace = 1.0

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def address(self) -> str:
        return self._server.address

    async def start(self) -> None:
        """Bind and serve (raising OSError when the address is taken)."""
        self._thread = threading.Thread(target=self._run, name=f"{self._server.name} server", daemon=True)
        self._thread.start()
        await asyncio.to_thread(self._started.wait)
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            try:
                loop.run_until_complete(self._server.start())
            except BaseException as err:  # handed to start(), in the caller's thread
                self._error = err
                return
            finally:
                self._started.set()
            loop.run_forever()  # until stop()
            loop.run_until_complete(self._server.stop(grace=self._grace))
        finally:
            loop.close()

    async def stop(self, grace: float = 1.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        self._grace = grace
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join, grace + 5.0)
        if thread.is_alive():
            log.error("the %s server did not stop within %.0fs", self._server.name, grace + 5.0)
