"""The health port's server: a loop of its own, so it answers while the service's loop is busy,
and says so when the service's loop has stalled."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from imagebot.service.app import health_app
from imagebot.service.health import Heartbeat, ThreadedHttpServer
from imagebot.service.limits import HEALTH_LIMITS
from imagebot.service.metrics import Metrics

pytestmark = pytest.mark.anyio


async def test_probes_are_answered_while_the_service_loop_is_blocked_and_report_a_stall() -> None:
    heartbeat = Heartbeat(stalled_after=0.5)
    beating = asyncio.ensure_future(heartbeat.run())
    server = ThreadedHttpServer("127.0.0.1", 0, health_app(Metrics(), lambda: True, heartbeat.alive),
                                limits=HEALTH_LIMITS, name="health")
    await server.start()
    url = f"http://127.0.0.1:{server.port}"
    try:
        await asyncio.sleep(0.05)
        before = httpx.get(url + "/healthz", timeout=2).status_code
        # Block this loop (a stuck service): the health port still answers, from its own thread.
        start = time.monotonic()
        while time.monotonic() - start < 1.0:
            time.sleep(0.05)
        stalled = httpx.get(url + "/healthz", timeout=2)
        ready = httpx.get(url + "/readyz", timeout=2).status_code
        await asyncio.sleep(1.2)  # the loop runs again: the heartbeat with it
        after = httpx.get(url + "/healthz", timeout=2).status_code
    finally:
        beating.cancel()
        await server.stop()
    assert before == 200
    assert (stalled.status_code, stalled.text) == (503, "the service's event loop is stalled\n")
    assert ready == 200
    assert after == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/healthz", timeout=2)


async def test_a_taken_address_is_an_error_at_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ThreadedHttpServer("127.0.0.1", port, health_app(Metrics(), lambda: True, lambda: True),
                                    limits=HEALTH_LIMITS, name="health")
        with pytest.raises(OSError):
            await server.start()
