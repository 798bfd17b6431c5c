"""What the status page shows, as plain values, and the protocols it reads them through.

The page never reaches into the service: it asks a `StatusSource` for these values and a
`UiActions` for "scan now" and "run now". One adapter (`imagebot.service.ui.adapter`) implements
both on the running service; tests and the benchmark implement them on fixed data.

Times are seconds since the epoch (time.time()), None when the thing has not happened yet.
No value here may hold a secret: the adapter leaves tokens and credentials out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ImageValue:
    name: str  # the ImageRepository's spec.image as written
    tag: str
    digest: str | None = None


@dataclass(frozen=True)
class _Named:
    """An object of the page, known by namespace/name."""

    namespace: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class RepositoryStatus(_Named):
    image: str
    suspended: bool = False
    last_scan: float | None = None
    duration: float | None = None  # seconds the last scan took
    tags: int | None = None
    error: str | None = None
    next_scan: float | None = None


@dataclass(frozen=True)
class PolicyStatus(_Named):
    repository: str  # namespace/name of its ImageRepository
    latest: ImageValue | None = None
    changed_at: float | None = None  # when the latest image last changed
    previous: ImageValue | None = None  # the latest image before that change, when known
    error: str | None = None


@dataclass(frozen=True)
class AutomationStatus(_Named):
    suspended: bool = False
    repository_url: str | None = None  # the git remote, credentials removed
    branch: str | None = None  # the branch it pushes to
    forge: str | None = None  # "github", "gitlab", "gitea" when spec.git.push.pullRequest names one
    last_run: float | None = None
    outcome: str | None = None  # committed, unchanged, failed, ... (AutomationOutcome.status)
    commit: str | None = None
    pull_request: str | None = None
    error: str | None = None
    next_run: float | None = None


@dataclass(frozen=True)
class Change:
    file: str
    old: str | None
    new: str | None
    setter: str | None = None


@dataclass(frozen=True)
class DeliveryRecord:
    """One delivery from the state database's history."""

    at: float
    commit: str | None
    branch: str | None
    pull_request: str | None
    repository_url: str | None
    changes: Sequence[Change] = ()
    automation: str | None = None  # namespace/name


@dataclass(frozen=True)
class HookCall:
    """One call a Receiver got: `accepted` is False for a refused call, `reason` says why either way."""

    at: float
    status: int
    accepted: bool
    reason: str


@dataclass(frozen=True)
class ReceiverStatus(_Named):
    type: str
    path: str  # the full webhook URL path, /hook/<sha256>: derived from the token, not the token
    resources: Sequence[str] = ()  # "Kind namespace/name"
    calls: Sequence[HookCall] = ()  # newest first


@dataclass(frozen=True)
class Verdict:
    tag: str
    outcome: str  # imagebot.policy.explain.Outcome values
    detail: str = ""
    rank: int | None = None


@dataclass(frozen=True)
class Explanation:
    """`imagebot policy eval --explain` for one policy on its repository's stored tags, bounded:
    `verdicts` holds the ranked tags first, at most a page of them; `counts` covers every tag."""

    policy: str
    rule: str
    tags: int
    verdicts: Sequence[Verdict] = ()
    counts: dict[str, int] = field(default_factory=dict)
    scanned_at: float | None = None


class StatusSource(Protocol):
    """The service's state as the status page sees it. Calls are cheap and never block on I/O,
    except `deliveries` and `explain`, which read the state database (small, bounded reads)."""

    def ready(self) -> bool:
        """False until a configuration is loaded."""
        ...

    def repositories(self) -> Sequence[RepositoryStatus]: ...

    def policies(self) -> Sequence[PolicyStatus]: ...

    def automations(self) -> Sequence[AutomationStatus]: ...

    def receivers(self) -> Sequence[ReceiverStatus]: ...

    def deliveries(self, automation: str | None, limit: int) -> Sequence[DeliveryRecord]:
        """The newest `limit` deliveries of an automation (namespace/name; every one when None), newest first."""
        ...

    def explain(self, policy: str) -> Explanation | None:
        """None when the policy is unknown or its repository has no stored tags yet."""
        ...


class ActionRefused(Exception):
    """A button's action cannot be done: `status` 404 (no such object) or 409 (e.g. suspended)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class UiActions(Protocol):
    """What the page's buttons do: queue the work and return; raise ActionRefused to say why not."""

    def scan_now(self, repository: str) -> None: ...

    def run_now(self, automation: str) -> None: ...
