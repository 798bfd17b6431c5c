"""An ASGI application served by uvicorn (h11) in the running event loop, with imagebot's limits.

uvicorn parses HTTP and keeps connections; this module adds what it leaves to the embedder:
- a cap on open connections applied when one is accepted (503, closed at once), where uvicorn's
  `limit_concurrency` refuses only once a request head has arrived, holding the socket meanwhile;
- a deadline for a request head (uvicorn arms no timer until the first response, so a client
  that never finishes its head would hold a connection slot forever: slowloris);
- the status h11 suggests for a refused request (431 head too large, 501 unknown
  Transfer-Encoding) where uvicorn answers 400 to all;
- a lingering close: after an error answer the connection reads and drops what the client is
  still sending for a moment, so that closing does not reset it before it has read the answer;
- no signal handlers of its own: the service owns SIGTERM and stops the server itself.
The body limit, body deadline and handler deadline live in the ASGI middleware (app.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from imagebot.service.limits import Limits

log = logging.getLogger("imagebot.service")

LINGER_SECONDS = 1.0
LINGER_BYTES = 8 * 1024 * 1024


class _LingeringTransport:
    """The connection's transport as uvicorn sees it: `close()` first half-closes and drains."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._transport.is_closing()

    def close(self) -> None:
        # Only a client still sending (a refused body, a request h11 could not read) needs the
        # lingering close; an idle or finished connection closes at once.
        if self._protocol.conn.their_state in (h11.SEND_BODY, h11.ERROR):
            self._protocol.linger()
        else:
            self._transport.close()


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol with a head deadline, h11's status hints and a lingering close."""

    def __init__(self, *args: Any, limits: Limits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits
        self._head_timer: asyncio.TimerHandle | None = None
        self._waiting_cycle: object = None  # the cycle in hand when the head timer was armed
        self.lingering = False
        self._lingered = 0
        self._raw: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._raw = transport
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        if len(self.connections) > self._limits.max_connections:
            # Refused at once rather than after its head (uvicorn's limit_concurrency): a flood of idle
            # connections must not hold file descriptors the other port and git need.
            self._refuse(503, "too many connections")
            return
        self._arm_head_timer(self._limits.head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        self.lingering = False
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            self._lingered += len(data)
            if self._lingered > LINGER_BYTES:
                self._close_now()
            return
        super().data_received(data)
        if self._head_timer is not None and self.cycle is not self._waiting_cycle:
            self._disarm_head_timer()  # a complete head arrived: the body and handler have their own deadlines

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Waiting for the next request: uvicorn's keep-alive timer only runs while no byte comes in,
        # so a head dripped a byte at a time gets a deadline of its own.
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._arm_head_timer(self._limits.keepalive_timeout + self._limits.head_timeout)

    def send_400_response(self, msg: str) -> None:
        # Called from handle_events' `except h11.RemoteProtocolError`: the error is the one in hand.
        error = sys.exc_info()[1]
        status = getattr(error, "error_status_hint", 400) if isinstance(error, h11.RemoteProtocolError) else 400
        self._refuse(status, _REFUSALS.get(status, "malformed request"))

    def _refuse(self, status: int, text: str) -> None:
        body = text.encode() + b"\n"
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        try:
            head = h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase)
            self.transport.write(self.conn.send(head) or b"")
            self.transport.write(self.conn.send(h11.Data(data=body)) or b"")
            self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError:
            pass  # a response was already under way: just close
        self.transport.close()

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        log.debug("closing a connection that sent no complete request head in time")
        if self.conn.our_state is h11.IDLE and self.conn.their_state is h11.IDLE:
            self._refuse(408, "request head not received in time")
        else:
            self.transport.close()

    def _arm_head_timer(self, seconds: float) -> None:
        self._disarm_head_timer()
        self._waiting_cycle = self.cycle
        self._head_timer = self.loop.call_later(seconds, self._head_timeout)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def linger(self) -> None:
        """Half-close, then drop what the client still sends for a moment, then close."""
        raw = self._raw
        if raw is None or self.lingering or raw.is_closing():
            return
        self._disarm_head_timer()
        self.lingering = True
        try:
            if raw.can_write_eof():
                raw.write_eof()
        except OSError:
            self._close_now()
            return
        self.loop.call_later(LINGER_SECONDS, self._close_now)

    def _close_now(self) -> None:
        self.lingering = False
        if self._raw is not None:
            self._raw.close()


_REFUSALS = {
    400: "malformed request",
    408: "request head not received in time",
    431: "request head too large",
    501: "Transfer-Encoding other than chunked is not supported",
    505: "unsupported HTTP version",
}


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket. Made with proto IPPROTO_TCP (socket.create_server leaves it 0):
    asyncio sets TCP_NODELAY only on such sockets, and without it Nagle's algorithm holds each
    answer's body behind its head until the client's delayed ACK, 40 ms a request."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.wake = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the service handles SIGTERM, SIGINT and SIGHUP on its loop and calls stop()

    async def main_loop(self) -> None:
        # uvicorn's loop, woken at once by stop() instead of at its next 0.1 s tick.
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 0.1)


@dataclass
class _Running:
    server: _Server
    task: asyncio.Task[None]
    sock: socket.socket


class HttpServer:
    """Serve the ASGI `app` on host:port (port 0 picks a free one: read `port` after `start`).

    Runs as a task of the current event loop; `stop` stops accepting, closes idle connections and
    gives requests in flight `grace` seconds.
    """

    def __init__(self, host: str, port: int, app: Any, *, limits: Limits | None = None, name: str = "http") -> None:
        self.host = host
        self._port = port
        self.app = app
        self.limits = limits or Limits()
        self.name = name
        self._running: _Running | None = None

    @property
    def port(self) -> int:
        if self._running is None:
            raise RuntimeError("HttpServer.port is known once start() has returned")
        return self._port

    @property
    def address(self) -> str:
        """HOST:PORT, the port as bound once started."""
        return f"[{self.host}]:{self._port}" if ":" in self.host else f"{self.host}:{self._port}"

    async def start(self) -> None:
        """Bind (raising OSError when the address is taken), then serve in the background."""
        lim = self.limits
        sock = _listen(self.host, self._port)
        self._port = sock.getsockname()[1]

        def protocol(*args: Any, **kwargs: Any) -> _Protocol:
            return _Protocol(*args, limits=lim, **kwargs)

        config = uvicorn.Config(
            # h11 only (our protocol is uvicorn's h11 one), no WebSocket upgrades, no lifespan events.
            self.app, http=protocol, ws="none", lifespan="off", log_config=None, access_log=False,
            server_header=False,
            # uvicorn answers 503 once this many connections are open, counting the asking one.
            limit_concurrency=lim.max_connections + 1, timeout_keep_alive=lim.keepalive_timeout,  # type: ignore[arg-type]
            h11_max_incomplete_event_size=lim.max_head, timeout_graceful_shutdown=None,
        )
        # uvicorn warns once per refused request: a flood would flood the log. Its errors stay.
        logging.getLogger("uvicorn.error").setLevel(logging.ERROR)
        server = _Server(config)
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name=f"{self.name} server")
        self._running = _Running(server, task, sock)
        while not server.started and not task.done():
            await asyncio.sleep(0.005)
        if task.done():
            self._running = None
            task.result()  # raises what stopped it
            raise RuntimeError(f"{self.name} server stopped at start")
        log.info("listening on http://%s:%d", self.host, self._port, extra={"server": self.name})

    async def stop(self, grace: float = 2.0) -> None:
        """Stop listening, close idle connections, give requests in flight `grace` seconds."""
        running, self._running = self._running, None
        if running is None:
            return
        server = running.server
        server.config.timeout_graceful_shutdown = max(1, round(grace))
        # Close the listener and idle connections now rather than at uvicorn's next 0.1 s tick.
        for listener in getattr(server, "servers", []):
            listener.close()
        for connection in list(server.server_state.connections):
            connection.shutdown()
        server.should_exit = True
        server.wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(running.task), grace + 1.0)
        except TimeoutError:
            server.force_exit = True
            running.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await running.task
        for connection in list(server.server_state.connections):
            connection.transport.close()  # whatever the grace did not finish
        running.sock.close()

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
