"""Prometheus metrics of the service, in a registry of their own.

A dedicated CollectorRegistry (not prometheus_client's global one) lets tests and several
service instances in one process each count for themselves. Callers use the methods, which
name the event; the collectors stay reachable as attributes for tests and dashboards.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from imagebot.failures import FailureKind

CONTENT_TYPE = CONTENT_TYPE_LATEST
__all__ = ["CONTENT_TYPE", "FailureKind", "Metrics"]  # FailureKind: re-exported for old importers

# Registry round trips and scans: from a few milliseconds to a slow registry's timeout.
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# The push-to-commit target is under a second: resolve well below and around it.
_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    """All imagebot metrics; `render()` gives the Prometheus text exposition."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.scans = Counter(
            "imagebot_scans", "Image repository scans, by result (ok or error).",
            ["image_repository", "result"], registry=r,
        )
        self.scan_duration = Histogram(
            "imagebot_scan_duration_seconds", "Duration of one image repository scan.",
            ["image_repository"], buckets=_RUN_BUCKETS, registry=r,
        )
        self.tags_seen = Gauge(
            "imagebot_tags_seen", "Tags found in an image repository at its last successful scan.",
            ["image_repository"], registry=r,
        )
        self.registry_requests = Counter(
            "imagebot_registry_requests", "HTTP requests to registries, by host and status ('error' if none).",
            ["host", "status"], registry=r,
        )
        self.registry_request_duration = Histogram(
            "imagebot_registry_request_duration_seconds", "Duration of one registry HTTP request.",
            ["host"], buckets=_REQUEST_BUCKETS, registry=r,
        )
        self.rate_limited = Counter(
            "imagebot_registry_rate_limited", "429 Too Many Requests answers from registries.",
            ["host"], registry=r,
        )
        self.policy_changes = Counter(
            "imagebot_policy_changes", "Times the latest image selected by a policy changed.",
            ["image_policy"], registry=r,
        )
        self.commits = Counter(
            "imagebot_commits", "Commits made by an automation.", ["automation"], registry=r,
        )
        self.pushes = Counter(
            "imagebot_pushes", "Successful git pushes by an automation.", ["automation"], registry=r,
        )
        self.pull_requests = Counter(
            "imagebot_pull_requests", "Pull requests opened or updated by an automation.",
            ["automation"], registry=r,
        )
        self.failures = Counter(
            "imagebot_failures", "Failures, by kind.", ["kind"], registry=r,
        )
        self.automation_duration = Histogram(
            "imagebot_automation_run_duration_seconds", "Duration of one automation run.",
            ["automation"], buckets=_RUN_BUCKETS, registry=r,
        )
        self.push_to_commit = Histogram(
            "imagebot_push_to_commit_seconds",
            "Latency from a registry push event received to the commit that uses the image.",
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.webhooks = Counter(
            "imagebot_webhook_requests", "Incoming webhook calls, by receiver and HTTP status.",
            ["receiver", "status"], registry=r,
        )
        self.retries = Counter(
            "imagebot_retries", "Retries scheduled after a failed scan or automation run, by what failed "
            "(scan, automation).", ["kind"], registry=r,
        )
        for kind in ("scan", "automation"):
            self.retries.labels(kind)
        for kind in FailureKind:  # every kind shows, at 0, before its first failure
            self.failures.labels(kind.value)

    def scan_finished(self, image_repository: str, *, ok: bool, seconds: float, tags: int | None = None) -> None:
        self.scans.labels(image_repository, "ok" if ok else "error").inc()
        self.scan_duration.labels(image_repository).observe(seconds)
        if ok and tags is not None:
            self.tags_seen.labels(image_repository).set(tags)

    def registry_request(self, host: str, status: int | None, seconds: float) -> None:
        """One registry round trip; `status` None when no HTTP answer came (timeout, refused)."""
        self.registry_requests.labels(host, "error" if status is None else str(status)).inc()
        self.registry_request_duration.labels(host).observe(seconds)
        if status == 429:
            self.rate_limited.labels(host).inc()

    def policy_changed(self, image_policy: str) -> None:
        self.policy_changes.labels(image_policy).inc()

    def committed(self, automation: str) -> None:
        self.commits.labels(automation).inc()

    def pushed(self, automation: str) -> None:
        self.pushes.labels(automation).inc()

    def pull_request(self, automation: str) -> None:
        self.pull_requests.labels(automation).inc()

    def failure(self, kind: FailureKind | str) -> None:
        self.failures.labels(FailureKind(kind).value).inc()

    def automation_run(self, automation: str, seconds: float) -> None:
        self.automation_duration.labels(automation).observe(seconds)

    def push_to_commit_latency(self, seconds: float) -> None:
        self.push_to_commit.observe(seconds)

    def webhook(self, receiver: str, status: int) -> None:
        self.webhooks.labels(receiver, str(status)).inc()

    def retry_scheduled(self, kind: str) -> None:
        self.retries.labels(kind).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
