"""Discord, as Flux's discord provider sends it: a Slack-style attachment posted to the webhook's
Slack-compatible endpoint (the address with `/slack` appended), which Discord turns into an embed.
So the embed limits apply: 25 fields, 256-character names, 1024-character values, 4096 for the
text and 6000 in all.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ._model import Event, Severity
from ._post import Delivery, WebhookNotifier, json_body
from ._text import change_text, facts, title, truncate

MAX_FIELDS = 25
NAME_MAX = 256
VALUE_MAX = 1024
TEXT_MAX = 4096
TOTAL_MAX = 6000
USERNAME_MAX = 80


def slack_compatible_url(address: str) -> str:
    parts = urlsplit(address)
    if parts.path.endswith("/slack"):
        return address
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/slack"))


def attachment_message(event: Event, *, username: str | None = None) -> dict[str, Any]:
    head = title(event)
    text = event.message
    if event.severity is Severity.ERROR:
        text = f"**Error: {event.reason}**\n{text}"
    fields = [
        {"title": truncate(f.title, NAME_MAX), "value": truncate(f.value, VALUE_MAX), "short": False}
        for f in facts(event)
    ][: MAX_FIELDS - 1]
    changes = [
        {"title": truncate(where, NAME_MAX), "value": truncate(what, VALUE_MAX), "short": False}
        for where, what in map(change_text, event.changes)
    ]
    author = truncate(str(event.involved_object), NAME_MAX)
    footer = "imagebot"
    text = truncate(text, TEXT_MAX)

    def size(extra: list[dict[str, Any]], body: str) -> int:
        return (
            len(author)
            + len(head)
            + len(body)
            + len(footer)
            + sum(len(f["title"]) + len(f["value"]) for f in [*fields, *extra])
        )

    def with_count(part: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(part) == len(changes):
            return part
        return [*part, {"title": "…", "value": f"and {len(changes) - len(part)} more images", "short": False}]

    # Images take the fields left; the tail becomes a count; the text shrinks last.
    room = MAX_FIELDS - len(fields)
    shown = changes if len(changes) <= room else changes[: room - 1]
    while shown and size(with_count(shown), text) > TOTAL_MAX:
        shown = shown[:-1]
    shown = with_count(shown)
    overflow = size(shown, text) - TOTAL_MAX
    if overflow > 0:
        text = truncate(text, max(1, len(text) - overflow))

    attachment: dict[str, Any] = {
        "color": "danger" if event.severity is Severity.ERROR else "good",
        "author_name": author,
        "title": truncate(head, NAME_MAX),
        "text": text,
        "mrkdwn_in": ["text"],
        "fields": [*fields, *shown],
        "footer": footer,
        "ts": int(event.timestamp.timestamp()),
    }
    if event.pull_request_url:
        attachment["title_link"] = event.pull_request_url
    return {"username": truncate(username or "imagebot", USERNAME_MAX), "attachments": [attachment]}


class DiscordNotifier(WebhookNotifier):
    @property
    def url(self) -> str:
        return slack_compatible_url(self.settings.address)

    def render(self, event: Event) -> Delivery:
        payload = attachment_message(event, username=self.settings.username)
        return Delivery(self.url, json_body(payload), self.base_headers())
