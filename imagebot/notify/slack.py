"""Slack: a Block Kit message to an incoming webhook (or to `chat.postMessage` with a bot token).

Flux's slack provider still sends a legacy attachment; imagebot sends Block Kit (header, sections,
context) with a plain `text` fallback, kept inside Block Kit's published limits so Slack never
answers `invalid_blocks`.
"""

from __future__ import annotations

import contextvars
import re
from typing import Any

import httpx

from imagebot import redact as _redact
from imagebot.release.render import slack_links, slack_notes

from ._model import Event, NotifyError, Severity
from ._post import Delivery, WebhookNotifier, json_body
from ._text import facts, title, truncate

_SENDING: contextvars.ContextVar[Event | None] = contextvars.ContextVar("imagebot_slack_event", default=None)
APPROVE_ACTION = "imagebot.approve"  # action_id of the Approve button; its value is the approval's id
REJECT_ACTION = "imagebot.reject"
_CHANGE_REQUEST = re.compile(r"/(?:pull|pulls|merge_requests)/(\d+)/?$")

MAX_BLOCKS = 50
HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
FIELDS_MAX = 10
FALLBACK_MAX = 3000


def escape(text: str) -> str:
    """Slack mrkdwn control characters, per Slack's formatting guide."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    # A backtick would end the code span early.
    return "`" + escape(text).replace("`", "'") + "`"


def _link(url: str, label: str) -> str:
    if not url.startswith(("https://", "http://")):
        # Slack refuses links to file:// or ssh:// (a git remote): show those as code
        return _code(url)
    # `|` and `>` end a Slack link; such characters in a URL must be percent-encoded.
    safe = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{safe}|{escape(label)}>"


def _link_label(url: str) -> str:
    """`#42` for a pull/merge request URL (GitHub, GitLab, Gitea), else the URL itself."""
    match = _CHANGE_REQUEST.search(url)
    return f"#{match.group(1)}" if match else url


def _mrkdwn(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": truncate(text, limit) or " "}


def _icon(event: Event) -> str:
    if event.severity is Severity.ERROR:
        return "🔴"
    return "✅" if event.changes else "ℹ️"


def message(event: Event, *, channel: str | None = None, username: str | None = None) -> dict[str, Any]:
    """The Slack payload for one event."""
    heading = f"{_icon(event)} {title(event)}"
    if event.severity is Severity.ERROR:
        body = f"*Error: {escape(event.reason)}*\n{escape(event.message)}"
    else:
        body = escape(event.message)

    fact_fields = []
    for fact in facts(event):
        value = _link(fact.url, _link_label(fact.url)) if fact.url else escape(fact.value)
        fact_fields.append(_mrkdwn(f"*{escape(fact.title)}*\n{value}", FIELD_TEXT_MAX))
    fact_sections = [
        {"type": "section", "fields": fact_fields[i : i + FIELDS_MAX]} for i in range(0, len(fact_fields), FIELDS_MAX)
    ]
    stamp = event.timestamp.isoformat(timespec="seconds")
    context = {
        "type": "context",
        "elements": [
            _mrkdwn(
                f"imagebot · {escape(event.reason)} · <!date^{int(event.timestamp.timestamp())}"
                f"^{{date_short_pretty}} {{time}}|{stamp}>"
            )
        ],
    }
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(heading, HEADER_MAX), "emoji": True}},
        {"type": "section", "text": _mrkdwn(body)},
    ]
    room = MAX_BLOCKS - len(blocks) - len(fact_sections) - 1
    changes = _change_sections(event, room)
    blocks.extend(changes)
    blocks.extend(_release_sections(event, room - len(changes)))
    actions = approval_actions(event.approval.id) if event.approval and event.approval.action == "requested" else None
    blocks.extend(fact_sections[: max(0, MAX_BLOCKS - len(blocks) - 1 - (actions is not None))])
    if actions is not None:
        blocks.append(actions)
    blocks.append(context)

    payload: dict[str, Any] = {
        # The fallback is read as mrkdwn too, so it is escaped like the blocks.
        "text": truncate(escape(f"{heading}: {event.message}"), FALLBACK_MAX),
        "blocks": blocks,
    }
    if channel:
        payload["channel"] = channel
    if username:
        payload["username"] = username
    return payload


def approval_actions(approval: int) -> dict[str, Any]:
    """Approve and Reject buttons (Block Kit `actions` with two `button` elements) for a request."""
    return {"type": "actions", "block_id": f"imagebot-approval-{approval}", "elements": [
        {"type": "button", "action_id": APPROVE_ACTION, "style": "primary", "value": str(approval),
         "text": {"type": "plain_text", "text": "Approve", "emoji": False}},
        {"type": "button", "action_id": REJECT_ACTION, "style": "danger", "value": str(approval),
         "text": {"type": "plain_text", "text": "Reject", "emoji": False}},
    ]}


def _change_sections(event: Event, room: int) -> list[dict[str, Any]]:
    """One bullet per image, packed into as few sections as the 3000-character limit allows;
    when the message runs out of blocks the tail becomes "…and N more"."""
    if not event.changes or room <= 0:
        return []
    limit = SECTION_TEXT_MAX
    lines = [
        truncate(
            f"• {_code(c.old)} → {_code(c.new)} in {_code(c.file)}" + (f" ({escape(c.object)})" if c.object else "")
            + (f"\n    {slack_links(c.release)}" if c.release else ""),
            limit - 100,
        )
        for c in event.changes
    ]
    chunks: list[list[str]] = [["*Images*"]]
    for index, line in enumerate(lines):
        if len("\n".join([*chunks[-1], line])) > limit:
            if len(chunks) == room:
                remaining = len(lines) - index
                while len("\n".join([*chunks[-1], f"…and {remaining} more"])) > limit:
                    chunks[-1].pop()
                    remaining += 1
                chunks[-1].append(f"…and {remaining} more")
                break
            chunks.append([])
        chunks[-1].append(line)
    return [{"type": "section", "text": _mrkdwn("\n".join(chunk))} for chunk in chunks]


def _release_sections(event: Event, room: int) -> list[dict[str, Any]]:
    """A section of release notes per distinct new image that has them, while blocks remain."""
    sections: list[dict[str, Any]] = []
    seen: set[str] = set()
    for change in event.changes:
        if len(sections) >= room or change.release is None or change.new in seen:
            continue
        seen.add(change.new)
        text = slack_notes(change.release, SECTION_TEXT_MAX)
        if text:
            sections.append({"type": "section", "text": _mrkdwn(text)})
    return sections


class SlackNotifier(WebhookNotifier):
    async def send(self, event: Event) -> None:
        token = _SENDING.set(event)  # check() reads it: a posted approval request's ts is remembered
        try:
            await super().send(event)
        finally:
            _SENDING.reset(token)

    def render(self, event: Event) -> Delivery:
        payload = message(event, channel=self.settings.channel, username=self.settings.username)
        thread = event.approval.threads.get(self.settings.ref) if event.approval else None
        if thread and self.settings.token:
            # Only the Web API threads (chat.postMessage answers the ts); an incoming webhook posts anew.
            payload["thread_ts"] = thread
        headers = self.base_headers()
        if self.settings.token:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        return Delivery(self.url, json_body(payload), headers)

    def check(self, response: httpx.Response) -> None:
        # The Web API answers 200 with {"ok": false, "error": ...}; incoming webhooks answer "ok".
        if "json" not in response.headers.get("content-type", ""):
            return
        try:
            data = response.json()
        except ValueError:
            return
        if isinstance(data, dict) and data.get("ok") is False:
            error = _redact.scrub(str(data.get("error", "unknown error")), self._secrets)
            where = f"slack provider {self.settings.ref} ({_redact.redact_url(self.url)})"
            raise NotifyError(f"{where}: Slack API error {error}", retryable=error == "ratelimited")
        event = _SENDING.get()
        if (isinstance(data, dict) and event is not None and event.approval is not None
                and event.approval.on_posted is not None and event.approval.action == "requested"
                and isinstance(data.get("ts"), str) and isinstance(data.get("channel"), str)):
            event.approval.on_posted(self.settings.ref, data["channel"][:64], data["ts"][:32])
