"""The service's ASGI application (Starlette): routes, and the middleware that bounds each request.

    main port:    /hook/<sha>  /status  /healthz  /readyz  /metrics   (+ routes given by the caller)
    health port:  /healthz  /readyz  /metrics

`RequestLimits` refuses before the application sees a request: an HTTP version other than 1.x
(505), a head over `max_head` (431), Content-Length together with Transfer-Encoding (400, a
request-smuggling vector), a declared body over `max_body` (413, before reading a byte). It then
caps a chunked body as it streams in (413), gives the body `body_timeout` (408) and the whole
request `body_timeout + handler_timeout` (503). Refusals close the connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, request_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagebot.service.hooks import HookEndpoint, text
from imagebot.service.limits import Limits
from imagebot.service.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from imagebot.service.metrics import Metrics
from imagebot.service.receivers import HOOK_PREFIX

if TYPE_CHECKING:
    from imagebot.service.runtime import Runtime

log = logging.getLogger("imagebot.service")

Handler = Callable[[Request], Awaitable[Response]]


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class RequestLimits:
    """ASGI middleware holding every HTTP request to `limits` (see the module's docstring)."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lim = self.limits
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            _check_head(scope, lim)
            async with asyncio.timeout(lim.body_timeout + lim.handler_timeout):
                await self.app(scope, _bounded_receive(receive, lim), tracked_send)
        except _Refused as refusal:
            if not started:
                await _answer(send, refusal.status, refusal.message, close=True)
        except TimeoutError:
            log.error("%s %s did not answer within %.0fs", scope["method"], _route_name(scope),
                      lim.body_timeout + lim.handler_timeout)
            if not started:
                await _answer(send, 503, "timed out", close=True)
        except Exception:
            log.exception("handler for %s failed", _route_name(scope))
            if not started:
                await _answer(send, 500, "internal error", close=True)


def _route_name(scope: Scope) -> str:
    path = str(scope.get("path", ""))
    return HOOK_PREFIX + "…" if path.startswith(HOOK_PREFIX) else path  # a hook path is derived from a secret


def _check_head(scope: Scope, lim: Limits) -> None:
    if scope.get("http_version") not in ("1.0", "1.1"):
        raise _Refused(505, f"HTTP/{str(scope.get('http_version'))[:8]} is not supported")
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    size = len(scope["raw_path"]) + len(scope["query_string"]) + sum(len(k) + len(v) + 4 for k, v in headers)
    if size > lim.max_head:
        raise _Refused(431, "request head too large")
    names = {k for k, _ in headers}
    if b"transfer-encoding" in names and b"content-length" in names:
        raise _Refused(400, "both Transfer-Encoding and Content-Length")
    length = next((v for k, v in headers if k == b"content-length"), None)
    if length is not None and int(length) > lim.max_body:  # h11 has checked it is digits, and only one value
        raise _Refused(413, f"request body over {lim.max_body} bytes")


def _bounded_receive(receive: Receive, lim: Limits) -> Receive:
    loop = asyncio.get_running_loop()
    deadline: float | None = None
    received = 0

    async def bounded() -> Message:
        nonlocal deadline, received
        if deadline is None:
            deadline = loop.time() + lim.body_timeout
        try:
            async with asyncio.timeout_at(deadline):
                message = await receive()
        except TimeoutError:
            raise _Refused(408, "request body not received in time") from None
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > lim.max_body:
                raise _Refused(413, f"request body over {lim.max_body} bytes")
        return message

    return bounded


async def _answer(send: Send, status: int, message: str, *, close: bool) -> None:
    await text(status, message, {"Connection": "close"} if close else None)({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def get_route(path: str, handler: Handler) -> Route:
    """A GET (and HEAD) route that answers other methods 405 with `Allow: GET`."""

    async def endpoint(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return text(405, "method not allowed", {"Allow": "GET"})
        return await handler(request)

    return any_method_route(path, endpoint, name=path.strip("/") or "root")


def any_method_route(path: str, handler: Handler, name: str | None = None) -> Route:
    """A route whose handler sees every method (Starlette would answer 405 for all but GET itself)."""
    return Route(path, _AnyMethod(handler), name=name)


class _AnyMethod:
    """An ASGI app (not a function), so that Starlette's Route leaves the methods to the handler."""

    def __init__(self, handler: Handler) -> None:
        self._app = request_response(handler)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def health_routes(*, metrics: Metrics, ready: Callable[[], bool],
                  alive: Callable[[], bool] = lambda: True) -> list[BaseRoute]:
    """/healthz (503 when not `alive()`), /readyz (503 until `ready()`), /metrics (Prometheus text)."""

    async def healthz(_: Request) -> Response:
        return text(200, "ok") if alive() else text(503, "the service's event loop is stalled")

    async def readyz(_: Request) -> Response:
        return text(200, "ready") if ready() else text(503, "not ready")

    async def metrics_page(_: Request) -> Response:
        return Response(metrics.render(), 200, media_type=METRICS_CONTENT_TYPE)

    return [get_route("/healthz", healthz), get_route("/readyz", readyz), get_route("/metrics", metrics_page)]


def service_routes(*, hooks: HookEndpoint, metrics: Metrics, ready: Callable[[], bool],
                   status: Callable[[], Mapping[str, object]] | None = None) -> list[BaseRoute]:
    """The main port's routes: the health routes, /hook/<sha>, and /status (JSON: each object and
    what it did last) when `status` is given."""

    async def status_page(_: Request) -> Response:
        if status is None or not ready():
            return text(503, "not ready")
        return Response(json.dumps(status(), indent=2), 200, media_type="application/json")

    routes = health_routes(metrics=metrics, ready=ready)
    routes.append(any_method_route(HOOK_PREFIX + "{rest:path}", hooks.handle, name="hook"))  # 404 before 405
    if status is not None:
        routes.append(get_route("/status", status_page))
    return routes


def build_app(routes: Sequence[BaseRoute], limits: Limits, **starlette: Any) -> Starlette:
    """A Starlette application of `routes`, every request held to `limits`. Extra keyword arguments
    (exception handlers, more middleware, lifespan) go to Starlette."""

    async def not_found(_: Request, __: Exception) -> Response:
        return text(404, "not found")

    handlers = {404: not_found, **starlette.pop("exception_handlers", {})}
    middleware = [Middleware(RequestLimits, limits=limits), *starlette.pop("middleware", [])]
    app = Starlette(routes=list(routes), middleware=middleware, exception_handlers=handlers, **starlette)
    app.router.redirect_slashes = False  # a path is served as sent, or not at all
    return app


def service_app(runtime: Runtime, hooks: HookEndpoint, ready: Callable[[], bool], *,
                extra_routes: Sequence[BaseRoute] = (), limits: Limits | None = None, serve_status: bool = True,
                **starlette: Any) -> Starlette:
    """The main port's application for a running service: webhooks, /status, the health routes,
    then `extra_routes` (a status page, for one). With `serve_status=False`, /status is left to
    `extra_routes` (the status page serves it, behind its login when asked to)."""
    routes = service_routes(hooks=hooks, metrics=runtime.metrics, ready=ready,
                            status=runtime.status if serve_status else None)
    return build_app([*routes, *extra_routes], limits or Limits(), **starlette)


def health_app(metrics: Metrics, ready: Callable[[], bool], alive: Callable[[], bool], *,
               limits: Limits | None = None) -> Starlette:
    """The health port's application: /healthz, /readyz and /metrics only. It runs on a loop of its
    own (service/health.py): `alive()` says whether the service's loop still runs."""
    return build_app(health_routes(metrics=metrics, ready=ready, alive=alive), limits or Limits())
