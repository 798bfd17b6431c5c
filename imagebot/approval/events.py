"""The notifications of an approval gate: a request (with buttons), and what became of it.

A follow-up (superseded, expired, withdrawn, delivered) goes into the Slack thread of the request it
is about, for Providers that post with the Web API (they learn the message's ts when posting).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagebot.approval import Approval
    from imagebot.config import ImageUpdateAutomation
    from imagebot.cycle.outcome import AutomationOutcome
    from imagebot.notify import ApprovalNote, Event
    from imagebot.store import Store


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def note(store: Store, approval: Approval, action: str) -> ApprovalNote:
    from imagebot.notify import ApprovalNote

    threads = {provider: m.ts for provider, m in store.slack_messages(approval.id).items()}
    remember = (lambda provider, channel, ts: store.record_slack_message(approval.id, provider, channel, ts)) \
        if action == "requested" else None
    return ApprovalNote(approval.id, action, threads, remember)


def approval_event(store: Store, automation: ImageUpdateAutomation, approval: Approval, action: str,
                   message: str, *, with_changes: bool = False) -> Event:
    from imagebot.notify import Event, ImageChange, ObjectRef

    ref = ObjectRef("ImageUpdateAutomation", automation.metadata.namespace, automation.metadata.name)
    changes = [ImageChange(c.get("file") or "", c.get("object") or "", c.get("old") or "", c.get("new") or "")
               for c in approval.changes] if with_changes else []
    reason = {"requested": "ApprovalRequested", "superseded": "ApprovalSuperseded", "expired": "ApprovalExpired",
              "withdrawn": "ApprovalWithdrawn", "approved": "Approved", "rejected": "Rejected"}[action]
    return Event(severity="info", reason=reason, message=message, involved_object=ref, automation=automation.key,
                 changes=changes, repository_url=approval.repository_url, branch=approval.branch,
                 labels=automation.metadata.labels, approval=note(store, approval, action),
                 metadata={"approval": str(approval.id)})


def request_message(approval: Approval) -> str:
    return (f"approval #{approval.id}: this change waits for approval until {_iso(approval.expires_at)}; "
            f"approve or reject it in Slack, on the status page or with `imagebot approve {approval.id}`")


def gate_events(store: Store, outcome: AutomationOutcome) -> list[Event]:
    """The approval events of one run (none when the automation has no gate or nothing happened)."""
    verdict = outcome.approval
    if verdict is None:
        return []
    automation = outcome.automation
    events = []
    for expired in verdict.expired:
        events.append(approval_event(store, automation, expired, "expired",
                                     f"approval #{expired.id} expired unanswered: nothing was committed"))
    if verdict.superseded is not None and verdict.pending is not None:
        old = verdict.superseded
        why = "the approved change no longer matches the repository" if old.state == "approved" \
            else "a newer change replaces it"
        events.append(approval_event(store, automation, old, "superseded",
                                     f"approval #{old.id} is superseded by #{verdict.pending.id}: {why}; "
                                     "nothing was committed"))
    if verdict.withdrawn is not None:
        events.append(approval_event(store, automation, verdict.withdrawn, "withdrawn",
                                     f"approval #{verdict.withdrawn.id} is withdrawn: the repository already "
                                     "holds its change or there is nothing to change any more"))
    if verdict.requested and verdict.pending is not None:
        message = request_message(verdict.pending)
        if verdict.superseded is not None:
            message += f" (supersedes #{verdict.superseded.id})"
        events.append(approval_event(store, automation, verdict.pending, "requested", message, with_changes=True))
    return events


def delivered_event(store: Store, outcome: AutomationOutcome, event: Event) -> Event:
    """The commit's event, in the request's thread, saying who approved it."""
    approved = outcome.approved
    if approved is None or approved.state == "delivered":  # a push branch kept up to date: said before
        return event
    who = f"; approved by {approved.decided_by} via {approved.decided_via} (approval #{approved.id})"
    return dataclasses.replace(event, message=event.message + who, approval=note(store, approved, "delivered"))
