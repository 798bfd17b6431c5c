"""`/hook/<sha>`: Flux Receivers' webhook endpoint, on Starlette."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from imagebot.failures import FailureKind
from imagebot.service.metrics import Metrics
from imagebot.service.receivers import HookError, HookResult, ReceiverSettings, verify

log = logging.getLogger("imagebot.service")

OnHook = Callable[[ReceiverSettings, HookResult], Awaitable[None]]
OnCall = Callable[[str, int, str], None]  # receiver key, status, the answer's text: the status page's call log


def text(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A plain-text answer of one line."""
    return PlainTextResponse(message + "\n", status, headers)


class HookEndpoint:
    """Find the Receiver by path, verify the call, hand the result to `on_hook`.

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
        on_call: OnCall | None = None,
    ) -> None:
        self._on_hook = on_hook
        self._metrics = metrics
        self._on_call = on_call
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

    @property
    def receivers(self) -> list[ReceiverSettings]:
        return list(self._by_path.values())

    async def handle(self, request: Request) -> Response:
        client = f"{request.client.host}:{request.client.port}" if request.client else "-"
        receiver = self._by_path.get(request.url.path)
        if receiver is None:
            # The path is derived from the token: never log it.
            log.warning("webhook from %s: unknown receiver path, 404", client)
            return self._done("unknown", text(404, "no receiver at this path"))
        body = await request.body() if request.method == "POST" else b""
        try:
            result = verify(receiver, request.method, request.headers, body)
        except HookError as e:
            log.warning(
                "webhook receiver=%s type=%s status=%d refused: %s", receiver.key, receiver.type, e.status, e.message
            )
            headers = {"Allow": "POST"} if e.status == 405 else None
            if self._metrics is not None:
                self._metrics.failure(FailureKind.WEBHOOK)
            return self._done(receiver.key, text(e.status, e.message, headers))
        if result.ignored:
            log.info(
                "webhook receiver=%s type=%s event=%s status=200 ignored: %s",
                receiver.key, receiver.type, result.event, result.ignored,
            )
            return self._done(receiver.key, text(200, f"ignored: {result.ignored}"))
        try:
            await asyncio.wait_for(self._on_hook(receiver, result), self._callback_timeout)
        except Exception:
            log.exception("webhook receiver=%s status=500: triggering failed", receiver.key)
            return self._done(receiver.key, text(500, "could not trigger the resources"))
        pushed = ",".join(_image_text(p.host, p.repository, p.tag) for p in result.pushed) or "-"
        log.info(
            "webhook receiver=%s type=%s event=%s status=200 triggered=%s pushed=%s",
            receiver.key, receiver.type, result.event or "-",
            ",".join(f"{r.kind}/{r.namespace}/{r.name}" for r in result.resources) or "-", pushed,
        )
        return self._done(receiver.key, text(200, f"triggered {len(result.resources)} resource(s)"))

    def _done(self, receiver: str, response: Response) -> Response:
        if self._metrics is not None:
            self._metrics.webhook(receiver, response.status_code)
        if self._on_call is not None and receiver != "unknown":
            self._on_call(receiver, response.status_code, bytes(response.body).decode(errors="replace").strip())
        return response


def _image_text(host: str | None, repository: str, tag: str | None) -> str:
    return (f"{host}/" if host else "") + repository + (f":{tag}" if tag else "")
