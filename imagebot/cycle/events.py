"""The events of a cycle, for notifications: Flux's reasons and severities."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagebot.cycle.outcome import AutomationOutcome
from imagebot.failures import FailureKind

if TYPE_CHECKING:
    from imagebot.config import ImageUpdateAutomation
    from imagebot.notify import Event
    from imagebot.scan import ScanReport
    from imagebot.store import Intent


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
    from imagebot.release.lookup import release_key

    changes = [ImageChange(c.file, object_label(c.object), c.old_value, c.new_value,
                           outcome.releases.get(release_key(c))) for c in outcome.result.changes]
    message = f"committed and pushed {outcome.commit[:12] if outcome.commit else ''} to {outcome.branch}"
    if outcome.pull_request_url:
        message += f"; pull request {outcome.pull_request_url}"
    return Event(severity="info", reason="Succeeded", message=message, involved_object=ref,
                 automation=automation.key, changes=changes, commit=outcome.commit, branch=outcome.branch,
                 pull_request_url=outcome.pull_request_url, repository_url=outcome.repository_url,
                 labels=automation.metadata.labels)


_REASONS = {FailureKind.GIT: "GitOperationFailed", FailureKind.PUSH: "GitOperationFailed",
            FailureKind.FORGE: "PullRequestFailed", FailureKind.CONFIG: "InvalidConfig"}


def recovered_event(automation: ImageUpdateAutomation, intent: Intent) -> Event:
    """The notification of a delivery a killed run pushed but never announced: as it would have been."""
    from imagebot.notify import Event, ImageChange, ObjectRef

    ref = ObjectRef("ImageUpdateAutomation", automation.metadata.namespace, automation.metadata.name)
    branch = intent.ref.removeprefix("refs/heads/")
    changes = [ImageChange(c.get("file") or "", c.get("object") or "", c.get("old") or "", c.get("new") or "")
               for c in intent.changes]
    return Event(severity="info", reason="Succeeded", message=f"committed and pushed {intent.commit[:12]} to {branch}",
                 involved_object=ref, automation=automation.key, changes=changes, commit=intent.commit,
                 branch=branch, repository_url=intent.repository_url, labels=automation.metadata.labels)


def _failure_reason(kind: FailureKind | None) -> str:
    return _REASONS.get(kind, "ReconciliationFailed") if kind is not None else "ReconciliationFailed"


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
