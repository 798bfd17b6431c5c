"""The events of a cycle, for notifications: Flux's reasons and severities."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagebot.cycle.outcome import AutomationOutcome

if TYPE_CHECKING:
    from imagebot.notify import Event
    from imagebot.scan import ScanReport


def outcome_event(outcome: AutomationOutcome) -> Event | None:
    from imagebot.notify import Event, ImageChange, ObjectRef
    from imagebot.update.changes import object_label

    automation = outcome.automation
    ref = ObjectRef("ImageUpdateAutomation", automation.metadata.namespace, automation.metadata.name)
    if outcome.status == "failed":
        return Event(severity="error", reason=_failure_reason(outcome.error_kind), message=outcome.error or "",
                     involved_object=ref, automation=automation.key, repository_url=outcome.repository_url,
                     labels=automation.metadata.labels)
    if outcome.status != "committed" or outcome.result is None:
        return None
    changes = [ImageChange(c.file, object_label(c.object), c.old_value, c.new_value)
               for c in outcome.result.changes]
    message = f"committed and pushed {outcome.commit[:12] if outcome.commit else ''} to {outcome.branch}"
    if outcome.pull_request_url:
        message += f"; pull request {outcome.pull_request_url}"
    return Event(severity="info", reason="Succeeded", message=message, involved_object=ref,
                 automation=automation.key, changes=changes, commit=outcome.commit, branch=outcome.branch,
                 pull_request_url=outcome.pull_request_url, repository_url=outcome.repository_url,
                 labels=automation.metadata.labels)


def _failure_reason(kind: str | None) -> str:
    return {"git": "GitOperationFailed", "forge": "PullRequestFailed", "config": "InvalidConfig"}.get(
        kind or "", "ReconciliationFailed")


def scan_events(report: ScanReport) -> list[Event]:
    from imagebot.notify import Event, ObjectRef

    events = []
    for repo in report.repositories:
        if repo.error:
            meta = repo.repository.metadata
            events.append(Event(severity="error", reason="ScanFailed", message=repo.error,
                                involved_object=ObjectRef("ImageRepository", meta.namespace, meta.name),
                                labels=meta.labels))
    for result in report.policies:
        meta = result.policy.metadata
        ref = ObjectRef("ImagePolicy", meta.namespace, meta.name)
        if result.error:
            events.append(Event(severity="error", reason="ReconciliationFailed", message=result.error,
                                involved_object=ref, labels=meta.labels))
        elif result.changed and result.latest:
            events.append(Event(severity="info", reason="Succeeded", involved_object=ref, labels=meta.labels,
                                message=f"Latest image tag for {result.latest.name} resolved to {result.latest.tag}"))
    return events
