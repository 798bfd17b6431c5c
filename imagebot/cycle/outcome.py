"""What a run of one automation did: committed, unchanged, suspended or failed, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from imagebot.config import ImageUpdateAutomation
from imagebot.failures import Failure, FailureKind

if TYPE_CHECKING:
    from imagebot.approval import Approval
    from imagebot.approval.gate import Verdict
    from imagebot.release import Release
    from imagebot.scan import ScanReport
    from imagebot.store import Intent
    from imagebot.update import Note, UpdateResult

# waiting: a change is pending, outside every delivery window (spec.schedule); `window_opens` says until when
# awaiting-approval: a change is computed and waits for a person (spec.approval); `approval` is the request
Status = Literal["unchanged", "committed", "failed", "suspended", "waiting", "awaiting-approval"]


@dataclass
class AutomationOutcome:
    automation: ImageUpdateAutomation
    status: Status
    repository_url: str | None = None
    commit: str | None = None
    branch: str | None = None
    pull_request_url: str | None = None
    result: UpdateResult | None = None
    error: str | None = None
    error_kind: FailureKind | None = None
    notes: list[Note] = field(default_factory=list)
    attempts: int = 0  # pushes tried; more than 1 when the remote moved meanwhile
    pushed: bool = False  # False when the push branch already held this very change
    intent: int | None = None  # the push's intent record, while this run owes its record and notification
    recovered: list[Intent] = field(default_factory=list)  # earlier runs' deliveries this run notifies
    announced_elsewhere: bool = False  # another run found this push on the remote and recorded it first
    window_opens: datetime | None = None  # status "waiting": the next opening of a delivery window
    releases: dict[tuple[str, str, str], Release] = field(default_factory=dict)  # by release_key(change)
    approval: Verdict | None = None  # spec.approval: what the gate decided this run
    approved: Approval | None = None  # the approved request this run's commit delivers

    @property
    def ok(self) -> bool:
        """False when the automation failed, or a value was refused or a file could not be updated."""
        return self.status != "failed" and not any(note.level == "error" for note in self.notes)


class AutomationError(Failure):
    """An automation cannot run as configured; `kind` says which part is at fault."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message, kind)


@dataclass
class CycleResult:
    report: ScanReport
    outcomes: list[AutomationOutcome]

    @property
    def ok(self) -> bool:
        return self.report.ok and all(o.ok for o in self.outcomes)


def failed(outcome: AutomationOutcome, kind: FailureKind, message: str) -> AutomationOutcome:
    from imagebot.redact import scrub

    # Every secret read through SecretStore is registered: none may reach output through an error text.
    outcome.status, outcome.error_kind, outcome.error = "failed", kind, scrub(message, ())
    return outcome
