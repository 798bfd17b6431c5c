"""Fixtures for the service's HTTP tests: a real server on 127.0.0.1:0 with one Receiver per type."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from imagebot.service.app import build_app, service_routes
from imagebot.service.hooks import HookEndpoint
from imagebot.service.limits import Limits
from imagebot.service.metrics import Metrics
from imagebot.service.receivers import HookResult, ReceiverSettings, ReceiverType, ResourceRef
from imagebot.service.server import HttpServer

TOKEN = "s3cr3t-Token-4-tests"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def receiver_for(kind: ReceiverType, *, events: tuple[str, ...] = ()) -> ReceiverSettings:
    """One Receiver per type, each with its own name (so its own path) and two resources."""
    return ReceiverSettings(
        name=f"{kind.value}-receiver",
        namespace="apps",
        type=kind,
        token=TOKEN,
        resources=[ResourceRef("ImageRepository", "podinfo"), ResourceRef("ImageRepository", "web", "other")],
        events=events,
    )


@dataclass
class Service:
    """The server under test and what its hook callback saw."""

    server: HttpServer
    hooks: HookEndpoint
    metrics: Metrics
    calls: list[tuple[ReceiverSettings, HookResult]] = field(default_factory=list)
    ready: bool = False
    fail_hook: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    metrics = Metrics()
    holder: list[Service] = []

    async def on_hook(receiver: ReceiverSettings, result: HookResult) -> None:
        if holder[0].fail_hook:
            raise RuntimeError("queue is full")
        holder[0].calls.append((receiver, result))

    receivers = [receiver_for(k) for k in ReceiverType]
    hooks = HookEndpoint(on_hook, receivers, metrics=metrics)
    routes = service_routes(hooks=hooks, metrics=metrics, ready=lambda: holder[0].ready)
    limits = Limits(head_timeout=0.5, keepalive_timeout=0.5, body_timeout=0.5)
    server = HttpServer("127.0.0.1", 0, build_app(routes, limits), limits=limits)
    svc = Service(server, hooks, metrics)
    holder.append(svc)
    await server.start()
    try:
        yield svc
    finally:
        await server.stop()
