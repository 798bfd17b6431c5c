"""Slack messages an approval decision answers with through `response_url` (Block Kit)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from imagebot.approval._store import Approval
from imagebot.notify._text import truncate
from imagebot.notify.slack import SECTION_TEXT_MAX, escape

MAX_LINES = 20


def ephemeral(text: str) -> dict[str, Any]:
    """Shown only to the user who clicked; the message itself stays as it is."""
    return {"response_type": "ephemeral", "replace_original": False, "text": escape(text)}


def decided_message(approval: Approval, outcome: str) -> dict[str, Any]:
    """The request's message, replaced: what it was about and what became of it, without buttons."""
    lines = [f"• `{escape(str(c.get('old')))}` → `{escape(str(c.get('new')))}` in `{escape(str(c.get('file')))}`"
             for c in approval.changes[:MAX_LINES]]
    if len(approval.changes) > MAX_LINES:
        lines.append(f"…and {len(approval.changes) - MAX_LINES} more")
    when = datetime.fromtimestamp(approval.decided_at or approval.created_at, UTC).isoformat(timespec="seconds")
    heading = f"*Approval #{approval.id}* for {escape(approval.automation)}"
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": truncate("\n".join([heading, *lines]),
                                                                          SECTION_TEXT_MAX)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": truncate(outcome, SECTION_TEXT_MAX)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"imagebot · {approval.state} · {when}"}]},
    ]
    return {"replace_original": True, "text": truncate(f"Approval #{approval.id}: {approval.state}", 3000),
            "blocks": blocks}
