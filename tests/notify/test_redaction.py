"""Webhook URLs, tokens, header values and HMAC keys never reach logs or exception text."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from imagebot.notify import AlertRule, Backoff, Dispatcher, NotifyError, ProviderSettings, notifier_for, redact_url
from tests.notify.events import delivery
from tests.support.webhookreceiver import Reply

SECRET_PATH = "/services/T0SECRET1/B0SECRET2/xoxSecretToken123"
SECRETS = [
    "T0SECRET1",
    "B0SECRET2",
    "xoxSecretToken123",
    "xoxb-very-secret-token",
    "hdr-secret-value",
    "hmac-secret-key",
]
FAST = Backoff(initial=0.01, maximum=0.02)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/services/***"),
        ("https://discord.com/api/webhooks/123/tok", "https://discord.com/api/***"),
        (
            "https://prod-1.westeurope.logic.azure.com:443/workflows/ab/triggers/manual/paths/invoke?sig=s",
            "https://prod-1.westeurope.logic.azure.com:443/workflows/***",
        ),
        ("https://user:pass@example.com/hook?token=abc", "https://example.com/***"),
        ("https://example.com/", "https://example.com"),
        ("not a url", "***"),
    ],
)
def test_redact_url(url: str, shown: str):
    assert redact_url(url) == shown


def assert_no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"secrets leaked: {leaked}\n{text}"


def settings(address: str, kind: str = "slack") -> ProviderSettings:
    return ProviderSettings(
        "chat",
        "flux-system",
        kind,
        address,
        token="xoxb-very-secret-token",  # type: ignore[arg-type]
        headers={"X-Auth": "hdr-secret-value"},
        hmac_key=b"hmac-secret-key",
        timeout=2.0,
    )


def test_settings_repr_hides_secrets():
    assert_no_secret(repr(settings("https://hooks.slack.com" + SECRET_PATH)))


def test_error_text_and_logs_hide_a_url_echoed_by_the_service(webhook_receiver, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, httpx's request lines included
    caplog.set_level(logging.DEBUG, logger="httpx")  # the CLI quiets httpx; this test wants its lines
    receiver = webhook_receiver("slack")
    # The service quotes the request back, secrets and all.
    receiver.default = Reply(500, f"failure for {SECRET_PATH} auth=xoxb-very-secret-token x=hdr-secret-value")
    notifier = notifier_for(settings(receiver.url(SECRET_PATH)), retries=1, backoff=FAST)

    with pytest.raises(NotifyError) as raised:
        asyncio.run(notifier.send(delivery()))

    assert len(receiver.requests) == 2
    text = str(raised.value)
    assert "/services/***" in text and "HTTP 500" in text
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert_no_secret(text)
    assert_no_secret(caplog.text)


def test_logs_hide_secrets_on_success_and_on_connection_errors(webhook_receiver, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # the CLI quiets httpx; this test wants its lines
    receiver = webhook_receiver("generic-hmac", hmac_key=b"hmac-secret-key")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    providers = [
        settings(receiver.url(SECRET_PATH), kind="generic-hmac"),
        ProviderSettings(
            "dead",
            "flux-system",
            "discord",
            f"http://127.0.0.1:{closed_port}/api/webhooks/1/xoxSecretToken123",
            timeout=1.0,
        ),
    ]
    sources = [("ImageUpdateAutomation", "*")]
    alerts = [
        AlertRule("ok", "flux-system", "chat", event_sources=sources),
        AlertRule("down", "flux-system", "dead", event_sources=sources),
    ]
    dispatcher = Dispatcher(providers, alerts, retries=1, backoff=FAST)

    async def scenario() -> bool:
        dispatcher.dispatch(delivery())
        return await dispatcher.drain(5.0)

    assert asyncio.run(scenario())
    assert receiver.requests[0].errors == []
    assert "HTTP Request: POST" in caplog.text  # httpx did log the requests...
    assert "ConnectError" in caplog.text  # ...and the failure was reported...
    assert_no_secret(caplog.text)  # ...without a secret in any line
