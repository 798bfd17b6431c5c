"""A real docker-registry notifies the server on push; the push reaches the hook callback."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from imagebot.service.receivers import PushedImage, ReceiverType, ResourceRef
from tests.support.registry import start_registry

from ._registry import push_image
from .conftest import Service, receiver_for

pytestmark = pytest.mark.anyio


async def test_registry_push_notification_is_parsed_into_pushed_image(service: Service, tmp_path: Path) -> None:
    receiver = receiver_for(ReceiverType.GENERIC)
    with start_registry(tmp_path, notify_url=service.url + receiver.path) as registry:
        host = registry.host
        async with httpx.AsyncClient(base_url=registry.url) as client:
            start = time.monotonic()
            digest = await push_image(client, "team/app", "1.2.3")
            while not service.calls and time.monotonic() - start < 10:
                await asyncio.sleep(0.02)
            latency = time.monotonic() - start
            # A second tag on the same manifest: one more notification, one more call.
            await push_image(client, "team/app", "1.2.4")
            while len(service.calls) < 2 and time.monotonic() - start < 10:
                await asyncio.sleep(0.02)

    assert latency < 2.0, "the registry notifies within moments of the push"
    (first_receiver, first), (_, second) = service.calls
    assert first_receiver.key == "apps/generic-receiver"
    assert first.event == "distribution"
    assert first.resources[0] == ResourceRef("ImageRepository", "podinfo", "apps")
    assert first.pushed == [PushedImage("team/app", "1.2.3", host, digest)]
    assert [p.tag for p in second.pushed] == ["1.2.4"]
    # The layer and config uploads were notified too, and answered without triggering.
    answered = service.metrics.registry.get_sample_value(
        "imagebot_webhook_requests_total", {"receiver": "apps/generic-receiver", "status": "200"}
    )
    assert answered is not None and answered > 2
