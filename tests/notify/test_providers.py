"""Each provider posts to a real local receiver that checks the payload as the service would."""

from __future__ import annotations

import asyncio
import json

import pytest

from imagebot.notify import Backoff, Event, NotifyError, ProviderSettings, notifier_for
from imagebot.notify.msteams import message_card
from tests.notify.events import COMMIT, PR_URL, delivery, failure, many_changes
from tests.support.webhookreceiver import (
    Reply,
    validate_discord,
    validate_msteams,
    validate_slack,
)

FAST = Backoff(initial=0.01, maximum=0.05)


def provider(kind: str, address: str, **extra: object) -> ProviderSettings:
    return ProviderSettings(
        name=f"{kind}-alerts", namespace="flux-system", type=kind, address=address, timeout=5.0, **extra
    )  # type: ignore[arg-type]


def send(settings: ProviderSettings, event: Event, *, retries: int = 0) -> None:
    asyncio.run(notifier_for(settings, retries=retries, backoff=FAST).send(event))


def all_text(payload: object) -> str:
    return json.dumps(payload, ensure_ascii=False)


# --- Slack ------------------------------------------------------------------------------------------


def test_slack_delivery_is_valid_block_kit_with_images_commit_and_pr(webhook_receiver):
    receiver = webhook_receiver("slack")
    send(provider("slack", receiver.url("/services/T0/B0/abc"), channel="#deploys", username="imagebot"), delivery())

    [request] = receiver.requests
    assert request.errors == []
    payload = request.json()
    assert payload["channel"] == "#deploys" and payload["username"] == "imagebot"
    assert payload["blocks"][0]["type"] == "header"
    assert "flux-system/apps: 2 images updated" in payload["blocks"][0]["text"]["text"]
    text = all_text(payload["blocks"])
    assert "`ghcr.io/acme/web:1.4.2` → `ghcr.io/acme/web:1.5.0` in `apps/web/deployment.yaml`" in text
    assert "`1.2.0` → `1.3.0` in `apps/api/values.yaml`" in text
    assert f"{COMMIT[:7]} on main" in text and COMMIT not in text
    assert f"<{PR_URL}|#42>" in text
    # Slack's mrkdwn control characters in the message are escaped.
    assert "apps &lt;staging&gt; &amp; prod" in text
    assert payload["text"].startswith("✅ flux-system/apps: 2 images updated")


def test_slack_shows_a_non_web_repository_url_as_code_not_a_link(webhook_receiver):
    receiver = webhook_receiver("slack")
    send(provider("slack", receiver.url("/services/T0/B0/abc")), delivery(repository_url="ssh://git@example.com/fleet"))

    [request] = receiver.requests
    assert request.errors == []  # Slack refuses <ssh://...|...> links
    text = all_text(request.json()["blocks"])
    assert "`ssh://git@example.com/fleet`" in text and "<ssh://" not in text


def test_slack_error_names_the_reason_with_red_styling(webhook_receiver):
    receiver = webhook_receiver("slack")
    send(provider("slack", receiver.url("/services/T0/B0/abc")), failure())

    [request] = receiver.requests
    assert request.errors == []
    blocks = request.json()["blocks"]
    assert blocks[0]["text"]["text"].startswith("🔴 PushRejected: flux-system/apps")
    assert blocks[1]["text"]["text"].startswith("*Error: PushRejected*\npush to main rejected")
    assert "Pull request" not in all_text(blocks)


def test_slack_message_with_hundreds_of_images_stays_within_block_kit_limits(webhook_receiver):
    receiver = webhook_receiver("slack")
    event = delivery(changes=many_changes(1000), message="x" * 5000, metadata={f"k{i}": "v" * 50 for i in range(30)})
    send(provider("slack", receiver.url("/services/T0/B0/abc")), event)

    [request] = receiver.requests
    assert request.errors == []
    blocks = request.json()["blocks"]
    assert len(blocks) == 50
    assert "more" in all_text(blocks)  # the images that did not fit are counted, not dropped silently


def test_slack_web_api_error_in_a_200_answer_is_a_failure(webhook_receiver):
    receiver = webhook_receiver("slack")
    receiver.script(Reply(200, '{"ok":false,"error":"channel_not_found"}', {"Content-Type": "application/json"}))
    settings = provider("slack", receiver.url("/api/chat.postMessage"), channel="nope", token="xoxb-1-2-3")

    with pytest.raises(NotifyError, match="channel_not_found"):
        send(settings, delivery())
    assert receiver.requests[0].headers["authorization"] == "Bearer xoxb-1-2-3"


def test_slack_validator_rejects_what_slack_rejects():
    # The receiver must be able to fail, or the provider tests above prove nothing.
    too_many = {"text": "t", "blocks": [{"type": "divider"}] * 51}
    long_text = {"text": "t", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "a" * 3001}}]}
    bad_header = {"text": "t", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]}
    unescaped = {"text": "t", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "a <b> & c"}}]}
    no_fallback = {"blocks": [{"type": "divider"}]}
    bad_type = {"text": "t", "blocks": [{"type": "section", "text": {"type": "markdown", "text": "x"}}]}
    for payload in (too_many, long_text, bad_header, unescaped, no_fallback, bad_type):
        assert validate_slack(payload), payload


# --- Microsoft Teams ----------------------------------------------------------------------------------


def test_msteams_workflow_webhook_gets_an_adaptive_card(webhook_receiver):
    receiver = webhook_receiver("msteams")
    send(provider("msteams", receiver.url("/workflows/abc/triggers/manual/paths/invoke?sig=s3cr3t")), failure())

    [request] = receiver.requests
    assert request.errors == []
    card = request.json()["attachments"][0]["content"]
    assert card["version"] == "1.4"
    items = card["body"][0]["items"]
    assert items[0]["text"] == "PushRejected: flux-system/apps"
    assert items[1]["color"] == "attention"
    assert {"title": "Automation", "value": "flux-system/apps"} in items[2]["facts"]


def test_msteams_card_lists_images_and_links_the_pull_request(webhook_receiver):
    receiver = webhook_receiver("msteams")
    send(provider("msteams", receiver.url("/workflows/abc")), delivery())

    [request] = receiver.requests
    assert request.errors == []
    card = request.json()["attachments"][0]["content"]
    facts = card["body"][0]["items"][4]["facts"]
    assert {"title": "apps/api/values.yaml (HelmRelease/api)", "value": "1.2.0 → 1.3.0"} in facts
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open pull request", "url": PR_URL}]


def test_msteams_legacy_connector_url_gets_a_message_card():
    # Flux picks the MessageCard for `*.webhook.office.com`; such a host cannot be served locally,
    # so the rendered request is checked with the receiver's validator.
    settings = provider("msteams", "https://acme.webhook.office.com/webhookb2/abc/IncomingWebhook/def/ghi")
    delivery_request = notifier_for(settings).render(failure())  # type: ignore[attr-defined]
    payload = json.loads(delivery_request.body)
    assert payload["@type"] == "MessageCard" and payload["themeColor"] == "FF0000"
    assert validate_msteams(payload) == []
    assert validate_msteams({**message_card(delivery()), "themeColor": "red"}) != []


# --- Discord ------------------------------------------------------------------------------------------


def test_discord_posts_slack_format_to_the_slack_compatible_endpoint(webhook_receiver):
    receiver = webhook_receiver("discord")
    send(provider("discord", receiver.url("/api/webhooks/123/tok"), username="imagebot"), delivery())

    [request] = receiver.requests
    assert request.path == "/api/webhooks/123/tok/slack"
    assert request.errors == []
    attachment = request.json()["attachments"][0]
    assert attachment["color"] == "good"
    assert attachment["title_link"] == PR_URL
    assert {
        "title": "apps/web/deployment.yaml (Deployment/web)",
        "value": "ghcr.io/acme/web:1.4.2 → ghcr.io/acme/web:1.5.0",
        "short": False,
    } in attachment["fields"]


def test_discord_keeps_an_existing_slack_suffix_and_fits_embed_limits(webhook_receiver):
    receiver = webhook_receiver("discord")
    send(
        provider("discord", receiver.url("/api/webhooks/123/tok/slack")),
        failure(changes=many_changes(100), message="boom " * 2000),
    )

    [request] = receiver.requests
    assert request.path == "/api/webhooks/123/tok/slack"
    assert request.errors == []
    attachment = request.json()["attachments"][0]
    assert attachment["color"] == "danger"
    assert 10 < len(attachment["fields"]) <= 25
    assert attachment["fields"][-1]["value"].endswith("more images")  # counted, not silently dropped
    assert validate_discord({"attachments": [{"fields": [{"title": "a", "value": "b" * 1025}]}]}, "/x/slack")
    assert validate_discord({"text": "hi"}, "/api/webhooks/1/t")


# --- generic and generic-hmac ---------------------------------------------------------------------------


def test_generic_posts_flux_event_json(webhook_receiver):
    receiver = webhook_receiver("generic")
    send(provider("generic", receiver.url("/flux"), headers={"X-Team": "platform"}), delivery())

    [request] = receiver.requests
    assert request.errors == []
    assert request.headers["gotk-component"] == "imagebot"
    assert request.headers["x-team"] == "platform"
    event = request.json()
    assert event["involvedObject"] == {"kind": "ImageUpdateAutomation", "namespace": "flux-system", "name": "apps"}
    assert event["timestamp"] == "2026-11-21T12:30:05Z"
    assert event["severity"] == "info" and event["reason"] == "CommitCreated"
    assert event["metadata"]["revision"] == f"main@sha1:{COMMIT}"
    assert event["metadata"]["pullRequest"] == PR_URL and event["metadata"]["cluster"] == "eu-1"
    assert event["changes"][1] == {
        "file": "apps/api/values.yaml",
        "object": "HelmRelease/api",
        "old": "1.2.0",
        "new": "1.3.0",
    }


def test_generic_hmac_signature_verifies_at_the_receiver(webhook_receiver):
    key = b"shared-hmac-token"
    receiver = webhook_receiver("generic-hmac", hmac_key=key)
    send(provider("generic-hmac", receiver.url("/flux"), hmac_key=key), failure())

    [request] = receiver.requests
    assert request.errors == []
    assert request.headers["x-signature"].startswith("sha256=")


def test_generic_hmac_with_the_wrong_key_is_refused_and_not_retried(webhook_receiver):
    receiver = webhook_receiver("generic-hmac", hmac_key=b"the-receivers-key")
    with pytest.raises(NotifyError, match="HTTP 400"):
        send(provider("generic-hmac", receiver.url("/flux"), hmac_key=b"another-key"), failure(), retries=3)
    assert len(receiver.requests) == 1
    assert receiver.requests[0].errors == ["X-Signature does not match the body"]
