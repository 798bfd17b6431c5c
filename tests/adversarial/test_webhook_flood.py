"""Floods on the webhook port: thousands of refused webhooks, and more idle connections than the
port allows. Probes on the health port never fail; memory and file descriptors stay bounded."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from ._webhook_service import (
    PLAIN_HOOK,
    PROBE_TIMEOUT,
    SIGNED_HOOK,
    Probes,
    http_exchange,
    signature,
    webhook_service,
)

REQUESTS = 6000
IN_FLIGHT = 64
IDLE_CONNECTIONS = 1000
MAX_CONNECTIONS = 256  # imagebot.service.limits.Limits.max_connections


def forged(i: int) -> bytes:
    body = b'{"forged": %d}' % i
    if i % 3 == 0:  # a wrong signature
        path, extra = SIGNED_HOOK.encode(), b"X-Signature: sha256=" + b"0" * 64 + b"\r\n"
    elif i % 3 == 1:  # a guessed path
        path, extra = b"/hook/%064x" % i, b""
    else:  # the signature of another body
        path, extra = SIGNED_HOOK.encode(), b"X-Signature: " + signature(b"x").encode() + b"\r\n"
    return (b"POST " + path + b" HTTP/1.1\r\nHost: imagebot\r\n" + extra
            + b"Content-Length: %d\r\n\r\n" % len(body) + body)


async def flood(port: int) -> tuple[dict[int, int], float]:
    statuses: dict[int, int] = {}
    queue = iter(range(REQUESTS))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in queue:
                status = await http_exchange(reader, writer, forged(i))
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return statuses, time.monotonic() - start


def test_a_flood_of_refused_webhooks_never_fails_a_probe(tmp_path: Path) -> None:
    with webhook_service(tmp_path) as service:
        baseline_mb = service.rss_mb()
        with Probes(service) as report:
            statuses, seconds = asyncio.run(flood(service.port))
        grown = service.rss_mb() - baseline_mb
        print(f"flood: {REQUESTS} webhooks on {IN_FLIGHT} connections in {seconds:.1f} s ({REQUESTS / seconds:.0f}/s), "
              f"{statuses}; {len(report.answers)} probes, slowest {report.slowest * 1000:.0f} ms; +{grown:.1f} MB RSS")
        assert statuses == {401: 2 * REQUESTS // 3, 404: REQUESTS // 3}
        assert report.failed == [], f"probes failed during the flood: {report.failed[:5]}"
        assert report.slowest < PROBE_TIMEOUT
        assert grown < 64
        assert service.triggered("signed") == 0
        body = b'{"real": true}'
        assert httpx.post(service.url + SIGNED_HOOK, content=body, headers={"X-Signature": signature(body)},
                          timeout=5).status_code == 200
        assert service.triggered("signed") == 1


def test_more_idle_connections_than_the_cap_are_refused_at_once(tmp_path: Path) -> None:
    with webhook_service(tmp_path) as service:
        baseline_fds = service.open_fds()

        async def attack() -> tuple[int, int]:
            connections = [await asyncio.open_connection("127.0.0.1", service.port) for _ in range(IDLE_CONNECTIONS)]
            await asyncio.sleep(1.0)
            fds = service.open_fds()
            refused = 0
            for reader, _ in connections:
                try:
                    answer = await asyncio.wait_for(reader.read(), 0.01)
                except TimeoutError:
                    continue
                refused += answer.startswith(b"HTTP/1.1 503 ")
            for _, writer in connections:
                writer.close()
            return refused, fds

        with Probes(service) as report:
            refused, fds = asyncio.run(attack())
        print(f"idle flood: {IDLE_CONNECTIONS} connections, {refused} refused at once, "
              f"service fds {baseline_fds} -> {fds}; slowest probe {report.slowest * 1000:.0f} ms")
        assert refused >= IDLE_CONNECTIONS - MAX_CONNECTIONS - 5
        assert fds - baseline_fds <= MAX_CONNECTIONS + 16, "refused connections do not keep descriptors"
        assert report.failed == [], f"probes failed during the flood: {report.failed[:5]}"
        time.sleep(0.5)
        assert httpx.post(service.url + PLAIN_HOOK, timeout=5).status_code == 200
