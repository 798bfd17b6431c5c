"""What the service last saw of each object (kept by the engine), and its `/status` view.

The board only records; `status_view` turns it, with the config in force, into the JSON
document of `/status` (and of any page built on it). Times are UTC, ISO 8601, to the second;
None means "not yet".
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from imagebot.config import Config
from imagebot.service.receivers import ReceiverSettings

if TYPE_CHECKING:
    from imagebot.cycle import AutomationOutcome
    from imagebot.scan import LatestImage, PolicyResult, RepositoryResult


@dataclass
class StatusBoard:
    """Last scan of each ImageRepository (and how long it took), error of each ImagePolicy and its
    latest image before the last change, last run of each automation."""

    scans: dict[str, tuple[float, RepositoryResult]] = field(default_factory=dict)
    scan_seconds: dict[str, float] = field(default_factory=dict)
    policy_errors: dict[str, str] = field(default_factory=dict)
    previous: dict[str, LatestImage] = field(default_factory=dict)  # known once a change is seen running
    runs: dict[str, tuple[float, AutomationOutcome]] = field(default_factory=dict)

    def scanned(self, result: RepositoryResult, at: float | None = None, seconds: float | None = None) -> None:
        self.scans[result.repository.key] = (time.time() if at is None else at, result)
        if seconds is not None:
            self.scan_seconds[result.repository.key] = seconds

    def policy_changed(self, key: str, before: LatestImage | None) -> None:
        if before is not None:
            self.previous[key] = before

    def policy_evaluated(self, key: str, error: str | None) -> None:
        if error:
            self.policy_errors[key] = error
        else:
            self.policy_errors.pop(key, None)

    def ran(self, outcome: AutomationOutcome, at: float | None = None) -> None:
        self.runs[outcome.automation.key] = (time.time() if at is None else at, outcome)


def status_view(config: Config, board: StatusBoard, latest: Mapping[str, PolicyResult],
                receivers: Iterable[ReceiverSettings] = (), *, scan_retries: Mapping[str, float] | None = None,
                run_retries: Mapping[str, float] | None = None) -> dict[str, object]:
    """The `/status` document: each configured object and what it did last.

    `latest` is each policy's last good result; `receivers` the Receivers in force (their webhook
    path is known only once their token is read, so a suspended one shows `webhookPath: null`).
    `scan_retries` and `run_retries` give, by key, when a failed scan or run is tried again
    (time.time()): shown as `nextRetry`, null when none is pending.
    """
    scan_retries, run_retries = scan_retries or {}, run_retries or {}
    repositories = []
    for repo in config.repositories:
        scanned = board.scans.get(repo.key)
        result = scanned[1] if scanned else None
        repositories.append({
            "namespace": repo.metadata.namespace, "name": repo.metadata.name, "image": repo.spec.image,
            "suspended": repo.spec.suspend, "lastScan": _when(scanned[0]) if scanned else None,
            "tags": result.tags if result else None, "error": result.error if result else None,
            "nextRetry": _exact(scan_retries[repo.key]) if repo.key in scan_retries else None,
        })
    policies = []
    for policy in config.policies:
        good = latest.get(policy.key)
        image = good.latest if good else None
        policies.append({
            "namespace": policy.metadata.namespace, "name": policy.metadata.name,
            "latest": {"name": image.name, "tag": image.tag, "digest": image.digest} if image else None,
            "error": board.policy_errors.get(policy.key),
            **({"waits": good.waits} if good is not None and good.waits else {}),  # minimumAge
        })
    automations = []
    for automation in config.automations:
        ran = board.runs.get(automation.key)
        outcome = ran[1] if ran else None
        automations.append({
            "namespace": automation.metadata.namespace, "name": automation.metadata.name,
            "suspended": automation.spec.suspend, "lastRun": _when(ran[0]) if ran else None,
            "status": outcome.status if outcome else None, "commit": outcome.commit if outcome else None,
            "branch": outcome.branch if outcome else None,
            "pullRequest": outcome.pull_request_url if outcome else None,
            "error": outcome.error if outcome else None,
            "nextRetry": _exact(run_retries[automation.key]) if automation.key in run_retries else None,
            # status "waiting": a change is pending outside every delivery window, until windowOpens
            "windowOpens": outcome.window_opens.isoformat(timespec="seconds")
            if outcome and outcome.window_opens else None,
            "pending": [{"file": c.file, "old": c.old_value, "new": c.new_value} for c in outcome.result.changes]
            if outcome and outcome.status == "waiting" and outcome.result else [],
        })
    in_force = {r.key: r for r in receivers}
    listed = []
    for receiver in config.receivers:
        settings = in_force.get(receiver.key)
        listed.append({
            "namespace": receiver.metadata.namespace, "name": receiver.metadata.name, "type": receiver.spec.type,
            "suspended": receiver.spec.suspend,
            # Flux's Receiver .status.webhookPath: what to configure at the sender, after the service's URL.
            "webhookPath": settings.path if settings else None,
            "resources": [{"kind": r.kind, "name": r.name, "namespace": r.namespace or receiver.metadata.namespace}
                          for r in receiver.spec.resources],
        })
    return {"repositories": repositories, "policies": policies, "automations": automations, "receivers": listed}


def _exact(at: float) -> str:
    """To the millisecond: a retry is often less than a second away."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def _when(at: float) -> str:
    return _second(int(at))


@functools.lru_cache(maxsize=4096)
def _second(at: int) -> str:
    """ISO 8601 to the second: /status of 2,000 repositories names a few hundred distinct seconds."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
