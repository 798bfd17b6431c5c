"""The status page's `StatusSource` and `UiActions` on the running service.

The one module of the page that knows the service's insides (the runtime's status board and last
good policy results, the scheduler's jobs, the state database): when those move, this file
changes and nothing else in `ui/` does. It reads; the only things it starts are the scans and
runs the buttons ask for, through the same serial queues every other trigger uses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from imagebot.service.serial import Trigger
from imagebot.service.ui.calls import HookCalls
from imagebot.service.ui.links import redact_url
from imagebot.service.ui.source import (
    ActionRefused,
    AutomationStatus,
    Change,
    DeliveryRecord,
    Explanation,
    ImageValue,
    PolicyStatus,
    ReceiverStatus,
    RepositoryStatus,
    Verdict,
)

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from imagebot.scan import LatestImage, PolicyResult
    from imagebot.service.runtime import Runtime

EXPLAIN_VERDICTS = 60  # tags listed by an explanation: the ranked ones first, then the others by tag

NextRuns = Callable[[], Mapping[str, float]]  # scheduler job id -> next run (epoch seconds)


def scheduler_next_runs(scheduler: BaseScheduler) -> NextRuns:
    """Next run times of the service's interval jobs ("scan ns/name", "automation ns/name")."""

    def next_runs() -> dict[str, float]:
        return {job.id: job.next_run_time.timestamp() for job in scheduler.get_jobs()
                if getattr(job, "next_run_time", None) is not None}

    return next_runs


class RuntimeStatus:
    """Implements StatusSource and UiActions on a `Runtime` (see imagebot.service.ui.source)."""

    def __init__(self, runtime: Runtime, *, next_runs: NextRuns | None = None, calls: HookCalls | None = None,
                 ready: Callable[[], bool] | None = None) -> None:
        self._runtime = runtime
        self._next_runs = next_runs or dict
        self.calls = calls or HookCalls()
        self._ready = ready
        self._changed: dict[str, tuple[PolicyResult, float | None]] = {}  # policy -> (result, changed_at)

    def ready(self) -> bool:
        return self._runtime.loaded and (self._ready is None or self._ready())

    def _config(self) -> Any:
        return self._runtime.generation.config

    def repositories(self) -> Sequence[RepositoryStatus]:
        upcoming = self._next_runs()
        retries = self._runtime.scan_retries.due()
        out = []
        for repo in self._config().repositories:
            scanned = self._runtime.board.scans.get(repo.key)
            at, result = scanned if scanned else (None, None)
            out.append(RepositoryStatus(
                repo.metadata.namespace, repo.metadata.name, repo.spec.image, suspended=repo.spec.suspend,
                last_scan=at, duration=self._runtime.board.scan_seconds.get(repo.key),
                tags=result.tags if result and not result.error else None,
                error=result.error if result else None,
                next_scan=_sooner(upcoming.get(f"scan {repo.key}"), retries.get(repo.key)),
            ))
        return out

    def policies(self) -> Sequence[PolicyStatus]:
        board = self._runtime.board
        out = []
        for policy in self._config().policies:
            result = self._runtime._latest.get(policy.key)
            out.append(PolicyStatus(
                policy.metadata.namespace, policy.metadata.name, policy.repository_key,
                latest=_image(result.latest) if result else None,
                changed_at=self._changed_at(policy.key, result),
                previous=_image(board.previous.get(policy.key)),
                error=board.policy_errors.get(policy.key),
            ))
        if len(self._changed) > len(out):  # policies removed by a reload
            keep = {p.key for p in out}
            self._changed = {k: v for k, v in self._changed.items() if k in keep}
        return out

    def _changed_at(self, key: str, result: PolicyResult | None) -> float | None:
        """When the policy's latest image last changed, from the state database; read again only once
        a scan has produced a new result (a page of 500 policies is not 500 queries each time)."""
        if result is None:
            return None
        cached = self._changed.get(key)
        if cached is not None and cached[0] is result:
            return cached[1]
        record = self._runtime.store.policy_result(key)
        at = record.changed_at if record else None
        self._changed[key] = (result, at)
        return at

    def automations(self) -> Sequence[AutomationStatus]:
        config = self._config()
        upcoming = self._next_runs()
        retries = self._runtime.run_retries.due()
        out = []
        for automation in config.automations:
            ran = self._runtime.board.runs.get(automation.key)
            at, outcome = ran if ran else (None, None)
            git = config.git_repository_for(automation)
            push = automation.spec.git.push
            branch = (push.branch if push and push.branch else None) or config.checkout_branch(automation)
            out.append(AutomationStatus(
                automation.metadata.namespace, automation.metadata.name, suspended=automation.spec.suspend,
                repository_url=redact_url(git.spec.url) if git else None,
                branch=outcome.branch if outcome and outcome.branch else branch,
                forge=push.pull_request.provider if push and push.pull_request else None,
                last_run=at, outcome=outcome.status if outcome else None,
                commit=outcome.commit if outcome else None,
                pull_request=outcome.pull_request_url if outcome else None,
                error=outcome.error if outcome else None,
                next_run=_sooner(upcoming.get(f"automation {automation.key}"), retries.get(automation.key)),
            ))
        return out

    def receivers(self) -> Sequence[ReceiverStatus]:
        out = []
        for r in self._runtime.generation.receivers:
            resources = [f"{ref.kind} {ref.namespace or r.namespace}/{ref.name}" for ref in r.resources]
            # r.path is derived from the token by sha256, as Flux does: it reveals nothing of it.
            out.append(ReceiverStatus(r.namespace, r.name, str(r.type), r.path, resources, self.calls.calls(r.key)))
        return out

    def deliveries(self, automation: str | None, limit: int) -> Sequence[DeliveryRecord]:
        out = []
        for d in self._runtime.store.deliveries(automation, limit=limit):
            changes = [Change(str(c.get("file", "")), _text(c.get("old")), _text(c.get("new")), _text(c.get("setter")))
                       for c in d.changes if isinstance(c, dict)]
            out.append(DeliveryRecord(d.at, d.commit, d.branch, d.pull_request_url, redact_url(d.repository_url),
                                      changes, automation=d.automation))
        return out

    def explain(self, policy_key: str) -> Explanation | None:
        from imagebot.policy import PolicyError
        from imagebot.registry import ImageReference

        config = self._config()
        policy = config.find("ImagePolicy", policy_key)
        repo = config.repository_for(policy) if policy is not None else None
        if policy is None or repo is None:
            return None
        try:
            compiled = policy.compile(repo)
            stored = self._runtime.store.tags(str(ImageReference.parse(repo.spec.image)))
        except (PolicyError, ValueError):
            return None
        if stored is None:
            return None
        verdicts = compiled.explain(stored.tags)
        counts: dict[str, int] = {}
        for v in verdicts:
            counts[v.outcome.value] = counts.get(v.outcome.value, 0) + 1
        kept = [Verdict(v.tag, v.outcome.value, v.detail, v.rank) for v in verdicts[:EXPLAIN_VERDICTS]]
        return Explanation(policy_key, compiled.describe(), len(verdicts), kept, counts, stored.scanned_at)

    # --- UiActions ------------------------------------------------------------------------------

    def scan_now(self, repository: str) -> None:
        self._request("ImageRepository", repository, self._runtime.scans, "a scan would not ask the registry")

    def run_now(self, automation: str) -> None:
        self._request("ImageUpdateAutomation", automation, self._runtime.automations, "it would not run")

    def _request(self, kind: str, key: str, runs: Any, suspended: str) -> None:
        """Queue one run of `key` on `runs` (the runtime's scans or automations), or say why not."""
        found = self._config().find(kind, key)
        if found is None:
            raise ActionRefused(404, f"No {kind} {key} in the configuration in force.")
        if found.spec.suspend:
            raise ActionRefused(409, f"{kind} {key} is suspended (spec.suspend): {suspended}.")
        if runs.request(key, Trigger("ui")) is None:
            raise ActionRefused(503, "The service is stopping.")

def _image(latest: LatestImage | None) -> ImageValue | None:
    return None if latest is None else ImageValue(latest.name, latest.tag, latest.digest)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _sooner(scheduled: float | None, retry: float | None) -> float | None:
    """The next scan or run: a failed one's retry when that comes before the interval's."""
    return min((t for t in (scheduled, retry) if t is not None), default=None)
