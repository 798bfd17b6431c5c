"""What the server stack (uvicorn, h11, our limits) does with requests a browser never sends:
HTTP/1.0, pipelining, smuggling attempts, oversized and dripping heads. Raw sockets throughout."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from imagebot.service.app import build_app, service_routes
from imagebot.service.hooks import HookEndpoint
from imagebot.service.limits import Limits
from imagebot.service.metrics import Metrics
from imagebot.service.receivers import ReceiverType
from imagebot.service.server import HttpServer

from .conftest import Service, receiver_for

pytestmark = pytest.mark.anyio

HOOK = receiver_for(ReceiverType.GENERIC).path.encode()


async def exchange(port: int, raw: bytes, timeout: float = 5.0) -> bytes:
    """Send `raw` at once and read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


def statuses(answer: bytes) -> list[int]:
    return [int(code) for code in re.findall(rb"^HTTP/1\.1 (\d{3}) ", answer, re.MULTILINE)]


async def test_http_1_0_is_answered_and_closed(service: Service) -> None:
    hook = b"POST " + HOOK + b" HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}"
    start = time.monotonic()
    health = await exchange(service.server.port, b"GET /healthz HTTP/1.0\r\n\r\n")
    triggered = await exchange(service.server.port, hook)
    assert time.monotonic() - start < 2.0, "an HTTP/1.0 connection closes after its answer, without keep-alive"
    assert statuses(health) == [200] and health.endswith(b"\r\n\r\nok\n")
    assert statuses(triggered) == [200] and triggered.endswith(b"triggered 2 resource(s)\n")
    assert len(service.calls) == 1


async def test_http_1_0_keep_alive_is_not_kept(service: Service) -> None:
    # A change from the hand-written server: h11 closes every HTTP/1.0 connection after its answer.
    answer = await exchange(service.server.port, b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                                 b"GET /readyz HTTP/1.0\r\n\r\n")
    assert statuses(answer) == [200] and b"connection: close" in answer.lower()


async def test_pipelined_requests_are_answered_in_order(service: Service) -> None:
    raw = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
           b"POST " + HOOK + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
           b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = await exchange(service.server.port, raw)
    assert statuses(answer) == [200, 200, 503, 404]
    assert answer.index(b"ok\n") < answer.index(b"triggered") < answer.index(b"not ready") < answer.index(b"not found")
    assert len(service.calls) == 1


@pytest.mark.parametrize(("name", "raw", "status"), [
    # CL.TE: a front end reading Content-Length would pass "G..." on as the start of the next request.
    ("cl-te", b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"0\r\n\r\nGPOST " + HOOK + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 400),
    # TE.CL: the chunk holds a whole second request.
    ("te-cl", b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
              b"3c\r\nPOST " + HOOK + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n\r\n0\r\n\r\n", 400),
    ("te-obfuscated", b"POST " + HOOK + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", 501),
    ("te-list", b"POST " + HOOK + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 501),
    ("te-twice", b"POST " + HOOK + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    ("space-before-colon", b"POST " + HOOK + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n", 400),
    ("cl-signed", b"POST " + HOOK + b" HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n{}", 400),
    ("cl-two-values", b"POST " + HOOK + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 3\r\n\r\n{}", 400),
    ("bad-chunk-size", b"POST " + HOOK + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"zz\r\n{}\r\n0\r\n\r\n", 400),
])
async def test_smuggling_attempts_are_refused_and_close_the_connection(
    service: Service, name: str, raw: bytes, status: int
) -> None:
    answer = await exchange(service.server.port, raw)
    assert statuses(answer) == [status], f"{name}: exactly one answer, then the connection is closed"
    assert service.calls == [], f"{name}: nothing was triggered"


async def test_a_folded_line_is_part_of_the_header_before_never_a_transfer_encoding(service: Service) -> None:
    # h11 unfolds obsolete line folding into the previous value, as RFC 9112 section 5.2 allows.
    raw = (b"POST " + HOOK + b" HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n"
           b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
    answer = await exchange(service.server.port, raw)
    assert statuses(answer) == [200]
    [(_, result)] = service.calls
    assert result.event is None


async def test_a_complete_head_over_the_limit_is_431(service: Service) -> None:
    headers = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 100) for i in range(200))  # ~22 KB, 16 KB allowed
    answer = await exchange(service.server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert statuses(answer) == [431]


async def test_an_endless_head_is_refused_and_its_connection_dropped(service: Service) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", service.server.port)
    sent = 0
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: ")
    try:
        with pytest.raises(ConnectionError):
            for _ in range(1024):  # 64 MB, were the server to read on
                writer.write(b"a" * 65536)
                sent += 65536
                await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 2)
    except ConnectionError:
        answer = b""
    finally:
        writer.close()
    # Past 16 KB the answer is 431; the connection then drops at most 8 MB more before closing
    # (lingering, so the client can read the answer), plus what the sockets' buffers hold.
    assert sent < 32 * 1024 * 1024
    assert answer == b"" or statuses(answer) == [431]


async def test_a_head_dripped_a_byte_at_a_time_after_keep_alive_is_cut_off(service: Service) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", service.server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"ok\n"), 2)
        start = time.monotonic()
        closed = asyncio.ensure_future(reader.read())
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 100:  # 14 s at this pace
            if closed.done():
                break
            writer.write(bytes([byte]))
            await asyncio.sleep(0.1)  # each byte well inside keep-alive's 0.5 s
        rest = await asyncio.wait_for(closed, 3)
        elapsed = time.monotonic() - start
    finally:
        writer.close()
    assert statuses(rest) in ([], [408])
    assert elapsed < 2.5, "keep-alive (0.5 s) + head deadline (0.5 s), whatever the drip"


async def test_a_body_that_stalls_is_408(service: Service) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", service.server.port)
    start = time.monotonic()
    try:
        writer.write(b"POST " + HOOK + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{}")
        answer = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    assert statuses(answer) == [408]
    assert 0.4 < time.monotonic() - start < 2.0  # body_timeout is 0.5 s in the fixture
    assert service.calls == []


async def test_connections_over_the_cap_are_refused_when_accepted() -> None:
    limits = Limits(max_connections=2, head_timeout=5)
    metrics = Metrics()
    hooks = HookEndpoint(lambda *_: asyncio.sleep(0), metrics=metrics)
    app = build_app(service_routes(hooks=hooks, metrics=metrics, ready=lambda: True), limits)
    async with HttpServer("127.0.0.1", 0, app, limits=limits) as server:
        idle = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(2)]
        await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        refused = await asyncio.wait_for(reader.read(), 2)  # without sending a byte
        writer.close()
        for _, w in idle:
            w.close()
        await asyncio.sleep(0.05)
        after = await exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") and refused.endswith(b"too many connections\n")
    assert statuses(after) == [200], "slots come back when connections close"


async def test_answers_are_sent_without_waiting_for_nagle(service: Service) -> None:
    # Without TCP_NODELAY each answer's body waited behind its head for the client's delayed ACK:
    # 40 ms a request. asyncio sets it only on sockets made with proto IPPROTO_TCP.
    import socket

    reader, writer = await asyncio.open_connection("127.0.0.1", service.server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"ok\n"), 2)
        [connection] = service.server._running.server.server_state.connections  # type: ignore[union-attr]
        accepted = connection.transport.get_extra_info("socket")
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        writer.close()


async def test_stop_lets_a_request_in_flight_finish_then_closes() -> None:
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    started = asyncio.Event()

    async def slow(_: Request) -> Response:
        started.set()
        await asyncio.sleep(0.5)
        return PlainTextResponse("done\n")

    server = HttpServer("127.0.0.1", 0, build_app([Route("/slow", slow)], Limits()))
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(started.wait(), 2)
        stopping = asyncio.ensure_future(server.stop(grace=2.0))
        answer = await asyncio.wait_for(reader.read(), 3)  # the answer, then the close
        await stopping
    finally:
        writer.close()
    # read() came back: the server closed the connection after the answer instead of keeping it.
    assert statuses(answer) == [200] and answer.endswith(b"done\n")
