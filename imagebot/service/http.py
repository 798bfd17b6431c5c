"""A small HTTP/1.1 server on asyncio streams, and the service's routes on it.

The service answers a handful of routes (health, readiness, metrics, webhooks) with small
bodies, so a server of our own on asyncio streams is enough and keeps httpx the project's
only HTTP stack. It is strict where laxness has bitten servers before: one of
Content-Length or chunked (never both), a body limit checked before reading, a deadline
for the request head (slowloris) and for the body, a cap on connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

from imagebot.service.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from imagebot.service.metrics import FailureKind, Metrics
from imagebot.service.receivers import (
    HOOK_PREFIX,
    HookError,
    HookResult,
    ReceiverSettings,
    verify,
)

log = logging.getLogger("imagebot.service")

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DIGITS = re.compile(r"[0-9]{1,18}")
_TEXT = "text/plain; charset=utf-8"


class Headers(Mapping[str, str]):
    """Request headers: case-insensitive lookup, the first value of a repeated name wins."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = list(pairs)
        self._first: dict[str, str] = {}
        for k, v in self._pairs:
            self._first.setdefault(k.lower(), v)

    def __getitem__(self, key: str) -> str:
        return self._first[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._first

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def get_all(self, key: str) -> list[str]:
        key = key.lower()
        return [v for k, v in self._pairs if k.lower() == key]


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # as sent, not percent-decoded
    query: str
    headers: Headers
    body: bytes
    client: str


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = _TEXT
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, text.encode() + b"\n", _TEXT, headers or {})


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    """`path` matches exactly, or as a prefix when it ends with '/'. `methods` None allows any."""

    path: str
    handler: Handler
    methods: frozenset[str] | None = frozenset({"GET"})


@dataclass(frozen=True)
class Limits:
    max_body: int = 1024 * 1024
    max_head: int = 16 * 1024  # request line and headers together
    head_timeout: float = 10.0  # from connection (or previous response) to a complete head
    body_timeout: float = 30.0
    keepalive_timeout: float = 15.0  # idle time allowed between requests on one connection
    handler_timeout: float = 30.0
    max_connections: int = 256


class _Refuse(Exception):
    """Answer with `status` and close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class HttpServer:
    """Serve `routes` on host:port (port 0 picks a free one, read `port` after `start`)."""

    def __init__(self, host: str, port: int, routes: Sequence[Route], *, limits: Limits | None = None) -> None:
        self.host = host
        self._port = port
        self.limits = limits or Limits()
        self._exact = {r.path: r for r in routes if not r.path.endswith("/")}
        # Longest prefix first, so /hook/x/ would win over /hook/.
        self._prefixes = sorted((r for r in routes if r.path.endswith("/")), key=lambda r: -len(r.path))
        self._server: asyncio.Server | None = None
        self._stopping = False
        self._busy: dict[asyncio.Task[None], bool] = {}

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("HttpServer.port is known once start() has returned")
        return self._port

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._connection, self.host, self._port, limit=self.limits.max_head
        )
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("listening on http://%s:%d", self.host, self._port)

    async def stop(self, grace: float = 2.0) -> None:
        """Stop listening, close idle connections, give requests in flight `grace` seconds."""
        if self._server is None:
            return
        self._stopping = True  # connections finish the request in hand, then close
        self._server.close()
        for task, busy in list(self._busy.items()):
            if not busy:
                task.cancel()
        if self._busy:
            _, pending = await asyncio.wait(list(self._busy), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        self._stopping = False

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._busy[task] = False
        peer = writer.get_extra_info("peername")
        client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        try:
            if len(self._busy) > self.limits.max_connections:
                await self._write(writer, Response.text(503, "too many connections"), keep=False)
                return
            first = True
            while not self._stopping and await self._exchange(reader, writer, client, first, task):
                first = False
        except (ConnectionError, asyncio.CancelledError, TimeoutError):
            pass  # the client went away, or we are stopping
        except Exception:
            log.exception("HTTP connection from %s failed", client)
        finally:
            self._busy.pop(task, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _exchange(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: str,
        first: bool,
        task: asyncio.Task[None],
    ) -> bool:
        """Serve one request; True to keep the connection for another."""
        lim = self.limits
        try:
            head = await asyncio.wait_for(
                reader.readuntil(b"\r\n\r\n"), lim.head_timeout if first else lim.keepalive_timeout
            )
        except TimeoutError:
            if first:  # a connection that never completed its request: tell it why
                await self._write(writer, Response.text(408, "request head not received in time"), keep=False)
            return False
        except asyncio.IncompleteReadError as e:
            if e.partial.strip():
                await self._write(writer, Response.text(400, "incomplete request"), keep=False)
            return False
        except asyncio.LimitOverrunError:
            await self._write(writer, Response.text(431, "request head too large"), keep=False)
            return False

        self._busy[task] = True
        try:
            method, target, version, headers = _parse_head(head)
            keep = _keep_alive(version, headers)
            path, query = _split_target(target)
            body = await self._body(reader, writer, version, headers)
        except _Refuse as r:
            await self._write(writer, Response.text(r.status, r.message), keep=False)
            await _linger(reader, writer)
            return False

        request = Request(method, path, query, headers, body, client)
        response = await self._dispatch(request)
        keep = keep and not self._stopping
        await self._write(writer, response, keep=keep, head_only=method == "HEAD")
        self._busy[task] = False
        return keep

    async def _body(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, version: str, headers: Headers
    ) -> bytes:
        lim = self.limits
        te = [v.strip().lower() for v in ",".join(headers.get_all("transfer-encoding")).split(",") if v.strip()]
        lengths = {v.strip() for v in headers.get_all("content-length")}
        if te and lengths:
            raise _Refuse(400, "both Transfer-Encoding and Content-Length")
        if te and te != ["chunked"]:
            raise _Refuse(501, f"Transfer-Encoding {','.join(te)} is not supported")
        if len(lengths) > 1 or (lengths and not _DIGITS.fullmatch(next(iter(lengths)))):
            raise _Refuse(400, "invalid Content-Length")
        length = int(next(iter(lengths))) if lengths else 0
        if length > lim.max_body:
            raise _Refuse(413, f"request body over {lim.max_body} bytes")
        if not te and not length:
            return b""
        if version == "HTTP/1.1" and headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            if te:
                return await asyncio.wait_for(_read_chunked(reader, lim.max_body), lim.body_timeout)
            return await asyncio.wait_for(reader.readexactly(length), lim.body_timeout)
        except TimeoutError:
            raise _Refuse(408, "request body not received in time") from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            raise _Refuse(400, "malformed request body") from None

    def _route(self, path: str) -> Route | None:
        route = self._exact.get(path)
        if route is None:
            route = next((r for r in self._prefixes if path.startswith(r.path)), None)
        return route

    async def _dispatch(self, request: Request) -> Response:
        route = self._route(request.path)
        if route is None:
            return Response.text(404, "not found")
        methods = route.methods
        method = "GET" if request.method == "HEAD" else request.method  # HEAD is GET without a body
        if methods is not None and method not in methods:
            return Response.text(405, "method not allowed", {"Allow": ", ".join(sorted(methods))})
        try:
            return await asyncio.wait_for(route.handler(request), self.limits.handler_timeout)
        except TimeoutError:
            log.error("handler for %s did not answer within %.0fs", route.path, self.limits.handler_timeout)
            return Response.text(503, "timed out")
        except Exception:
            log.exception("handler for %s failed", route.path)
            return Response.text(500, "internal error")

    async def _write(
        self, writer: asyncio.StreamWriter, response: Response, *, keep: bool, head_only: bool = False
    ) -> None:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
            f"Connection: {'keep-alive' if keep else 'close'}",
        ]
        for name, value in response.headers.items():
            if any(c in name + value for c in "\r\n"):
                raise ValueError(f"response header {name!r} holds a line break")
            lines.append(f"{name}: {value}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if not head_only:
            writer.write(response.body)
        # A client that does not read its answer must not hold the connection forever.
        await asyncio.wait_for(writer.drain(), self.limits.body_timeout)


def _parse_head(head: bytes) -> tuple[str, str, str, Headers]:
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]):
        raise _Refuse(400, "malformed request line")
    method, target, version = (p.decode("latin-1") for p in parts)
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise _Refuse(505 if version.startswith("HTTP/") else 400, f"unsupported protocol {version[:16]}")
    pairs = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        # No folded lines, no space before the colon: both are request-smuggling vectors.
        if not sep or not _TOKEN.fullmatch(name):
            raise _Refuse(400, "malformed header line")
        pairs.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return method, target, version, Headers(pairs)


def _split_target(target: str) -> tuple[str, str]:
    if target.startswith("/"):
        path, _, query = target.partition("?")
        return path, query
    if target.startswith(("http://", "https://")):  # absolute form, as proxies send
        parts = urlsplit(target)
        return parts.path or "/", parts.query
    raise _Refuse(400, "malformed request target")


def _keep_alive(version: str, headers: Headers) -> bool:
    tokens = {t.strip().lower() for v in headers.get_all("connection") for t in v.split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


async def _read_chunked(reader: asyncio.StreamReader, limit: int) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)  # ValueError -> 400
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers: ignored
            return bytes(body)
        if len(body) + size > limit:
            raise _Refuse(413, f"request body over {limit} bytes")
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise ValueError("chunk not followed by CRLF")


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Discard what the client still sends for a moment, so that closing does not reset the
    connection before it has read our error answer."""
    with contextlib.suppress(Exception):
        writer.write_eof()
        async with asyncio.timeout(1.0):
            received = 0
            while received < 8 * 1024 * 1024:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                received += len(chunk)


# --- the service's routes -------------------------------------------------------------

OnHook = Callable[[ReceiverSettings, HookResult], Awaitable[None]]


class HookEndpoint:
    """`/hook/<sha>`: find the Receiver by path, verify the call, hand the result to `on_hook`.

    `on_hook` should only trigger work (queue a scan) and return: the sender is waiting.
    `set_receivers` swaps the whole table at once, on config reload.
    """

    def __init__(
        self,
        on_hook: OnHook,
        receivers: Iterable[ReceiverSettings] = (),
        *,
        metrics: Metrics | None = None,
        callback_timeout: float = 5.0,
    ) -> None:
        self._on_hook = on_hook
        self._metrics = metrics
        self._callback_timeout = callback_timeout
        self._by_path: dict[str, ReceiverSettings] = {}
        self.set_receivers(receivers)

    def set_receivers(self, receivers: Iterable[ReceiverSettings]) -> None:
        table: dict[str, ReceiverSettings] = {}
        for r in receivers:
            other = table.setdefault(r.path, r)
            if other is not r:
                raise ValueError(f"Receivers {other.key} and {r.key} have the same webhook path")
        self._by_path = table

    async def __call__(self, request: Request) -> Response:
        receiver = self._by_path.get(request.path)
        if receiver is None:
            # The path is derived from the token: never log it.
            log.warning("webhook from %s: unknown receiver path, 404", request.client)
            return self._done("unknown", Response.text(404, "no receiver at this path"))
        try:
            result = verify(receiver, request.method, request.headers, request.body)
        except HookError as e:
            log.warning(
                "webhook receiver=%s type=%s status=%d refused: %s", receiver.key, receiver.type, e.status, e.message
            )
            headers = {"Allow": "POST"} if e.status == 405 else None
            if self._metrics is not None:
                self._metrics.failure(FailureKind.WEBHOOK)
            return self._done(receiver.key, Response.text(e.status, e.message, headers))
        if result.ignored:
            log.info(
                "webhook receiver=%s type=%s event=%s status=200 ignored: %s",
                receiver.key, receiver.type, result.event, result.ignored,
            )
            return self._done(receiver.key, Response.text(200, f"ignored: {result.ignored}"))
        try:
            await asyncio.wait_for(self._on_hook(receiver, result), self._callback_timeout)
        except Exception:
            log.exception("webhook receiver=%s status=500: triggering failed", receiver.key)
            return self._done(receiver.key, Response.text(500, "could not trigger the resources"))
        pushed = ",".join(_image_text(p.host, p.repository, p.tag) for p in result.pushed) or "-"
        log.info(
            "webhook receiver=%s type=%s event=%s status=200 triggered=%s pushed=%s",
            receiver.key, receiver.type, result.event or "-",
            ",".join(f"{r.kind}/{r.namespace}/{r.name}" for r in result.resources) or "-", pushed,
        )
        return self._done(receiver.key, Response.text(200, f"triggered {len(result.resources)} resource(s)"))

    def _done(self, receiver: str, response: Response) -> Response:
        if self._metrics is not None:
            self._metrics.webhook(receiver, response.status)
        return response


def _image_text(host: str | None, repository: str, tag: str | None) -> str:
    return (f"{host}/" if host else "") + repository + (f":{tag}" if tag else "")


def service_routes(*, hooks: HookEndpoint, metrics: Metrics, ready: Callable[[], bool],
                   status: Callable[[], Mapping[str, object]] | None = None) -> list[Route]:
    """The service's routes: /healthz, /readyz (503 until `ready()`), /metrics, /hook/<sha>, and
    /status (JSON: each object and what it did last) when `status` is given."""

    async def healthz(_: Request) -> Response:
        return Response.text(200, "ok")

    async def readyz(_: Request) -> Response:
        return Response.text(200, "ready") if ready() else Response.text(503, "not ready")

    async def metrics_page(_: Request) -> Response:
        return Response(200, metrics.render(), METRICS_CONTENT_TYPE)

    async def status_page(_: Request) -> Response:
        if status is None or not ready():
            return Response.text(503, "not ready")
        return Response(200, json.dumps(status(), indent=2).encode(), "application/json")

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_page),
        Route(HOOK_PREFIX, hooks, methods=None),  # the endpoint answers 404 before 405
    ]
    if status is not None:
        routes.append(Route("/status", status_page))
    return routes
