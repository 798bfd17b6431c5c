"""Status data held in memory: a `StatusSource` and `UiActions` for the page's unit tests and the
benchmark (the browser tests read the real service through the adapter)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from imagebot.service.ui.source import (
    ActionRefused,
    AutomationStatus,
    Change,
    DeliveryRecord,
    Explanation,
    HookCall,
    ImageValue,
    PolicyStatus,
    ReceiverStatus,
    RepositoryStatus,
    Verdict,
)

DIGEST = "sha256:" + "ab12" * 16


@dataclass
class FixedSource:
    repos: list[RepositoryStatus] = field(default_factory=list)
    pols: list[PolicyStatus] = field(default_factory=list)
    autos: list[AutomationStatus] = field(default_factory=list)
    recvs: list[ReceiverStatus] = field(default_factory=list)
    history: list[DeliveryRecord] = field(default_factory=list)
    explanations: dict[str, Explanation] = field(default_factory=dict)
    loaded: bool = True
    scans: list[str] = field(default_factory=list)  # what the actions were asked for
    runs: list[str] = field(default_factory=list)

    def ready(self) -> bool:
        return self.loaded

    def repositories(self) -> Sequence[RepositoryStatus]:
        return self.repos

    def policies(self) -> Sequence[PolicyStatus]:
        return self.pols

    def automations(self) -> Sequence[AutomationStatus]:
        return self.autos

    def receivers(self) -> Sequence[ReceiverStatus]:
        return self.recvs

    def deliveries(self, automation: str | None, limit: int) -> Sequence[DeliveryRecord]:
        found = [d for d in self.history if automation is None or d.automation == automation]
        return sorted(found, key=lambda d: -d.at)[:limit]

    def explain(self, policy: str) -> Explanation | None:
        return self.explanations.get(policy)

    # UiActions
    def scan_now(self, repository: str) -> None:
        if not any(r.key == repository for r in self.repos):
            raise ActionRefused(404, f"No ImageRepository {repository}.")
        self.scans.append(repository)

    def run_now(self, automation: str) -> None:
        found = next((a for a in self.autos if a.key == automation), None)
        if found is None:
            raise ActionRefused(404, f"No ImageUpdateAutomation {automation}.")
        if found.suspended:
            raise ActionRefused(409, f"ImageUpdateAutomation {automation} is suspended.")
        self.runs.append(automation)


def sample(repositories: int = 3, policies: int = 3, automations: int = 2, *, failing: int = 1,
           now: float | None = None) -> FixedSource:
    """A plausible fleet: `failing` of each kind failing, the rest healthy, every field filled."""
    now = time.time() if now is None else now
    source = FixedSource()
    for i in range(repositories):
        bad = i < failing
        source.repos.append(RepositoryStatus(
            "apps", f"repo-{i:03}", f"registry.example.com/team/app-{i:03}", last_scan=now - 60 - i,
            duration=0.05 + i / 1000, tags=None if bad else 40 + i, next_scan=now + 300 + i,
            error=f"GET https://registry.example.com/v2/team/app-{i:03}/tags/list: 503 Service Unavailable"
            if bad else None))
    for i in range(policies):
        bad = i < failing
        repo = f"apps/repo-{i % max(repositories, 1):03}"
        image = f"registry.example.com/team/app-{i % max(repositories, 1):03}"
        source.pols.append(PolicyStatus(
            "apps", f"policy-{i:03}", repo, latest=None if bad else ImageValue(image, f"1.{i}.3", DIGEST),
            changed_at=None if bad else now - 3600 - i, previous=None if bad else ImageValue(image, f"1.{i}.2", None),
            error=f"ImageRepository {repo} could not be scanned" if bad else None))
        if not bad:
            source.explanations[f"apps/policy-{i:03}"] = Explanation(
                f"apps/policy-{i:03}", "semver >=1.0.0", 5,
                [Verdict(f"1.{i}.3", "selected", "", 1), Verdict(f"1.{i}.2", "ranked", "", 2),
                 Verdict("latest", "not_a_version", "not a semantic version")],
                {"selected": 1, "ranked": 1, "not_a_version": 1, "prerelease": 2}, now - 60)
    for i in range(automations):
        bad = i < failing
        key = f"apps/fleet-{i:02}"
        sha = f"{i:02}" + "c0ffee" * 6 + "ab"
        source.autos.append(AutomationStatus(
            "apps", f"fleet-{i:02}", repository_url=f"https://github.com/example/fleet-{i:02}.git", branch="main",
            last_run=now - 120, outcome="failed" if bad else "committed", commit=None if bad else sha,
            pull_request=None if bad else f"https://github.com/example/fleet-{i:02}/pull/{i + 7}",
            error="push to https://github.com/example/fleet.git rejected: non-fast-forward" if bad else None,
            next_run=now + 600))
        if not bad:
            source.history.append(DeliveryRecord(
                now - 120 - i, sha, "main", f"https://github.com/example/fleet-{i:02}/pull/{i + 7}",
                f"https://github.com/example/fleet-{i:02}.git",
                [Change("apps/app.yaml", f"registry.example.com/team/app-000:1.{i}.2",
                        f"registry.example.com/team/app-000:1.{i}.3", "apps:policy-000")], automation=key))
    source.recvs.append(ReceiverStatus(
        "apps", "registry", "generic", "/hook/" + "5e" * 32, ["ImageRepository apps/*"],
        [HookCall(now - 30, 200, True, "triggered 1 resource(s)"),
         HookCall(now - 90, 401, False, "token does not match")]))
    return source
