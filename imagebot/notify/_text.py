"""Wording shared by the chat providers: titles, change lines, facts. Plain text, no markup."""

from __future__ import annotations

from dataclasses import dataclass

from ._model import Event, ImageChange, Severity

ELLIPSIS = "…"
SUMMARY_KEY = "summary"  # Flux puts an Alert's `summary` into the event metadata under this key


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + ELLIPSIS


def title(event: Event) -> str:
    if event.severity is Severity.ERROR:
        return f"{event.reason}: {event.subject}"
    if event.changes:
        count = len(event.changes)
        return f"{event.subject}: {count} image{'s' if count != 1 else ''} updated"
    return f"{event.reason}: {event.subject}"


def change_text(change: ImageChange) -> tuple[str, str]:
    """(where, what): `deploy/app.yaml (Deployment/app)`, `ghcr.io/x/app:1.0 → 1.1`."""
    where = f"{change.file} ({change.object})" if change.object else change.file
    return where, f"{change.old} → {change.new}"


@dataclass(frozen=True)
class Fact:
    title: str
    value: str
    url: str | None = None  # when the value is a link target


def facts(event: Event) -> list[Fact]:
    """The summary first (as Flux does), then delivery details, then the rest of the metadata by key."""
    out: list[Fact] = []
    if summary := event.metadata.get(SUMMARY_KEY):
        out.append(Fact("Summary", summary))
    if event.automation:
        out.append(Fact("Automation", event.automation))
    if event.commit:
        on_branch = f" on {event.branch}" if event.branch else ""
        out.append(Fact("Commit", f"{event.short_commit}{on_branch}"))
    elif event.branch:
        out.append(Fact("Branch", event.branch))
    if event.pull_request_url:
        out.append(Fact("Pull request", event.pull_request_url, url=event.pull_request_url))
    if event.repository_url:
        out.append(Fact("Repository", event.repository_url, url=event.repository_url))
    out.append(Fact("Object", str(event.involved_object)))
    out.extend(Fact(k, v) for k, v in sorted(event.metadata.items()) if k != SUMMARY_KEY)
    return out
