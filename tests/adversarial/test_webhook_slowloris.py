"""Slowloris on the webhook port: hundreds of connections dripping their request heads. The
health port keeps answering probes at once; the webhook port drops the slow connections at its
head deadline and serves webhooks again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from ._webhook_service import PLAIN_HOOK, Probes, webhook_service

SLOW_CONNECTIONS = 300  # over the webhook port's cap of 256
HEAD_TIMEOUT = 10.0  # imagebot.service.limits.Limits.head_timeout


async def slow_client(port: int, stop: asyncio.Event) -> tuple[bytes, float]:
    """Start a webhook request and send one more header byte a second; what the server answered
    and when it closed (seconds from connecting)."""
    start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    closed = asyncio.ensure_future(reader.read())
    try:
        writer.write(b"POST " + PLAIN_HOOK.encode() + b" HTTP/1.1\r\nHost: imagebot\r\nX-Slow: ")
        while not closed.done() and not stop.is_set():
            await asyncio.wait([closed], timeout=1.0)
            if not closed.done():
                writer.write(b"z")
        answer = await asyncio.wait_for(closed, 5) if not stop.is_set() else b""
        return answer, time.monotonic() - start
    except ConnectionError:
        return b"", time.monotonic() - start
    finally:
        closed.cancel()
        writer.close()


def test_slowloris_never_fails_a_probe_and_is_cut_off_at_the_head_deadline(tmp_path: Path) -> None:
    with webhook_service(tmp_path) as service:
        baseline_mb = service.rss_mb()

        async def attack() -> None:
            stop = asyncio.Event()
            clients = [asyncio.ensure_future(slow_client(service.port, stop)) for _ in range(SLOW_CONNECTIONS)]
            await asyncio.sleep(3.0)  # every slot of the webhook port is held by now
            held_mb = service.rss_mb()
            async with httpx.AsyncClient(base_url=service.url, timeout=5, trust_env=False) as client:
                squeezed = (await client.post(PLAIN_HOOK)).status_code
            results = await asyncio.wait_for(asyncio.gather(*clients), HEAD_TIMEOUT + 10)
            stop.set()

            # Connections over the cap end at once: a 503, or a reset when the client's bytes crossed
            # the server's close. The others are held until the head deadline, then get a 408.
            refused = [(a, t) for a, t in results if t < 2.0]
            held = [(a, t) for a, t in results if t >= 2.0]
            print(f"slowloris: {len(refused)} refused at accept, {len(held)} held "
                  f"{min(t for _, t in held):.1f}-{max(t for _, t in held):.1f} s; +{held_mb - baseline_mb:.1f} MB RSS")
            assert squeezed == 503, "the webhook port was full: the attack was real"
            assert len(refused) >= SLOW_CONNECTIONS - 256 - 5
            assert all(a.startswith(b"HTTP/1.1 503 ") or a == b"" for a, _ in refused)
            assert all(a.startswith(b"HTTP/1.1 408 ") or a == b"" for a, _ in held)
            assert min(t for _, t in held) > HEAD_TIMEOUT - 1 and max(t for _, t in held) < HEAD_TIMEOUT + 3
            assert held_mb - baseline_mb < 64, f"{held_mb - baseline_mb:.1f} MB for {SLOW_CONNECTIONS} connections"

        with Probes(service) as report:
            asyncio.run(attack())
        print(f"slowloris: {len(report.answers)} probes, slowest {report.slowest * 1000:.0f} ms")
        assert report.failed == [], f"probes failed under slowloris: {report.failed[:5]}"
        assert len(report.answers) > 50
        # The webhook port serves again once the slow connections are gone.
        assert httpx.post(service.url + PLAIN_HOOK, timeout=5).status_code == 200
        assert service.triggered("plain") == 1
