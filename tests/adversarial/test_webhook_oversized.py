"""Oversized webhooks against the real service: a body declared huge is refused before a byte of
it is read, an endless chunked body is cut at the limit, huge or countless headers are refused;
memory stays flat and the next webhook is served."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from ._webhook_service import PLAIN_HOOK, webhook_service

MAX_BODY = 1024 * 1024  # imagebot.service.limits.Limits.max_body
HOOK = PLAIN_HOOK.encode()


async def send(port: int, head: bytes, body_chunks: int = 0, chunk: bytes = b"") -> tuple[bytes, int, float]:
    """Send `head`, then up to `body_chunks` chunks while the server reads; its answer, the bytes of
    body sent, and the seconds until the server closed."""
    start = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer_task = asyncio.ensure_future(reader.read())
    sent = 0
    try:
        writer.write(head)
        for _ in range(body_chunks):
            if answer_task.done():
                break
            writer.write(chunk)
            sent += len(chunk)
            await writer.drain()
        answer = await asyncio.wait_for(answer_task, 10)
    except ConnectionError:
        answer = answer_task.result() if answer_task.done() and not answer_task.exception() else b""
    finally:
        writer.close()
    return answer, sent, time.monotonic() - start


def test_oversized_webhooks_are_refused_with_memory_flat(tmp_path: Path) -> None:
    with webhook_service(tmp_path) as service:
        baseline_mb = service.rss_mb()

        async def attack() -> dict[str, tuple[bytes, int, float]]:
            port = service.port
            return {
                # 100 GB announced, nothing sent: refused on the head alone.
                "declared": await send(port, b"POST " + HOOK + b" HTTP/1.1\r\nHost: x\r\n"
                                             b"Content-Length: 107374182400\r\n\r\n"),
                # An endless chunked body: 64 KB chunks until the server stops it.
                "chunked": await send(port, b"POST " + HOOK + b" HTTP/1.1\r\nHost: x\r\n"
                                            b"Transfer-Encoding: chunked\r\n\r\n",
                                      body_chunks=4096, chunk=b"10000\r\n" + b"z" * 65536 + b"\r\n"),
                "one huge header": await send(port, b"POST " + HOOK + b" HTTP/1.1\r\nHost: x\r\nX-Big: "
                                              + b"h" * (1024 * 1024) + b"\r\n\r\n"),
                "countless headers": await send(port, b"POST " + HOOK + b" HTTP/1.1\r\nHost: x\r\n"
                                                + b"".join(b"X-%d: v\r\n" % i for i in range(20000)) + b"\r\n"),
            }

        results = asyncio.run(attack())
        grown = service.rss_mb() - baseline_mb
        for name, (answer, sent, seconds) in results.items():
            print(f"oversized {name}: {answer[:32]!r} after {seconds:.2f} s, {sent / 2**20:.1f} MB of body sent")
        print(f"oversized: +{grown:.1f} MB RSS")

        declared, _, declared_seconds = results["declared"]
        assert declared.startswith(b"HTTP/1.1 413 ") and declared_seconds < 2.0
        chunked, chunked_sent, _ = results["chunked"]
        assert chunked.startswith(b"HTTP/1.1 413 ") or chunked == b""
        assert chunked_sent < 64 * 2**20, "the server stopped the endless body"
        for name in ("one huge header", "countless headers"):
            answer = results[name][0]
            assert answer.startswith(b"HTTP/1.1 431 ") or answer == b"", f"{name}: {answer[:64]!r}"
        assert grown < 32, f"memory grew by {grown:.1f} MB"
        assert httpx.post(service.url + PLAIN_HOOK, timeout=5).status_code == 200
        assert service.triggered("plain") == 1
