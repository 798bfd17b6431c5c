"""Microsoft Teams, as Flux's msteams provider sends today.

Workflow (Power Automate) webhook URLs get an Adaptive Card 1.4 in a `message` attachment; the
retired Office 365 connector URLs (host `*.webhook.office.com`) still get the legacy MessageCard.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ._model import Event, Severity
from ._post import Delivery, WebhookNotifier, json_body
from ._text import change_text, facts, title, truncate

ADAPTIVE_CARD_VERSION = "1.4"  # the newest version Teams renders
ADAPTIVE_CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
ADAPTIVE_CARD_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_CHANGES = 50  # Teams rejects payloads over about 28 KB; past this many images, a count
TEXT_MAX = 4000


def is_legacy_connector(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host.endswith(".webhook.office.com")


def adaptive_card(event: Event) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "TextBlock", "text": truncate(event.message, TEXT_MAX), "wrap": True}
    if event.severity is Severity.ERROR:
        message["color"] = "attention"
    items: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": title(event), "size": "large", "weight": "bolder", "wrap": True},
        message,
        {"type": "FactSet", "facts": [{"title": f.title, "value": f.value} for f in facts(event)]},
    ]
    if event.changes:
        shown = event.changes[:MAX_CHANGES]
        change_facts = [{"title": where, "value": what} for where, what in map(change_text, shown)]
        if len(event.changes) > len(shown):
            change_facts.append({"title": "…", "value": f"and {len(event.changes) - len(shown)} more"})
        items += [
            {"type": "TextBlock", "text": "Images", "weight": "bolder", "wrap": True},
            {"type": "FactSet", "facts": change_facts},
        ]
    content: dict[str, Any] = {
        "$schema": ADAPTIVE_CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "body": [{"type": "Container", "items": items}],
        "msteams": {"width": "Full"},
    }
    if event.pull_request_url:
        content["actions"] = [{"type": "Action.OpenUrl", "title": "Open pull request", "url": event.pull_request_url}]
    return {"type": "message", "attachments": [{"contentType": ADAPTIVE_CARD_TYPE, "content": content}]}


def message_card(event: Event) -> dict[str, Any]:
    card_facts = [{"name": f.title, "value": f.value} for f in facts(event)]
    card_facts += [{"name": where, "value": what} for where, what in map(change_text, event.changes[:MAX_CHANGES])]
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": "FF0000" if event.severity is Severity.ERROR else "0076D7",
        "summary": title(event),
        "sections": [
            {
                "activityTitle": truncate(event.message, TEXT_MAX),
                "activitySubtitle": str(event.involved_object),
                "facts": card_facts,
            }
        ],
    }
    if event.pull_request_url:
        card["potentialAction"] = [
            {
                "@type": "OpenUri",
                "name": "Open pull request",
                "targets": [{"os": "default", "uri": event.pull_request_url}],
            }
        ]
    return card


class TeamsNotifier(WebhookNotifier):
    def render(self, event: Event) -> Delivery:
        payload = message_card(event) if is_legacy_connector(self.url) else adaptive_card(event)
        return Delivery(self.url, json_body(payload), self.base_headers())
