"""A webhook endpoint answering without end, or echoing the provider's token, gets a bounded read
and a redacted error: the notifier never holds more than its answer limit."""

from __future__ import annotations

import asyncio
import time

import pytest

from imagebot.notify import NotifyError, ProviderSettings, notifier_for
from imagebot.retry import Backoff
from tests.notify.events import delivery
from tests.support.hostileregistry import Answer, HostileRegistry, hostile_registry  # noqa: F401

FAST = Backoff(initial=0.01, maximum=0.05)


def send(settings: ProviderSettings, retries: int = 0) -> None:
    asyncio.run(notifier_for(settings, retries=retries, backoff=FAST).send(delivery()))


def generic(address: str, **extra: object) -> ProviderSettings:
    return ProviderSettings(name="hook", namespace="flux-system", type="generic", address=address,  # type: ignore[arg-type]
                            timeout=5.0, **extra)


def test_an_endless_answer_is_cut_at_the_limit(hostile_registry: HostileRegistry) -> None:  # noqa: F811
    url = hostile_registry.endpoint("endless", Answer(endless=True))
    started = time.monotonic()
    with pytest.raises(NotifyError, match=r"larger than the limit of 256 KiB"):
        send(generic(url))
    assert time.monotonic() - started < 5


def test_an_error_answer_echoing_the_token_is_redacted(hostile_registry: HostileRegistry) -> None:  # noqa: F811
    token = "notify-t0ken-4b0b4b0b"
    url = hostile_registry.endpoint("echo", Answer(401, f"bad token Bearer {token}\x1b[31m\nplease".encode()))
    with pytest.raises(NotifyError) as caught:
        send(generic(url, token=token))
    message = str(caught.value)
    assert token not in message and "HTTP 401" in message
    assert "\x1b" not in message and "\n" not in message
