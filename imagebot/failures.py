"""Why something failed, as one vocabulary from the scan to the metrics.

A low-level module on purpose: scan, cycle, delivery and notify name failures without importing the
service, and the service's `imagebot_failures_total{kind=...}` counts the same values. Exceptions
that stand for one kind of failure carry it as `kind`, so callers catch types, never match texts.
"""

from __future__ import annotations

from enum import StrEnum


class FailureKind(StrEnum):
    """Why something failed, as the `kind` label of imagebot_failures_total."""

    REGISTRY = "registry"  # unreachable, 5xx, bad answer
    AUTH = "auth"  # registry or forge refused the credentials
    RATE_LIMIT = "rate_limit"
    CONFIG = "config"  # invalid config, failed reload, a secret that cannot be read
    GIT = "git"  # clone, fetch, commit
    PUSH = "push"  # push rejected (after retries, or declined by the remote)
    FORGE = "forge"  # pull request API
    UPDATE = "update"  # a file could not be edited
    NOTIFY = "notify"  # a notifier failed
    WEBHOOK = "webhook"  # an incoming webhook was refused
    INTERNAL = "internal"  # a bug: an unexpected exception cost one automation


class Failure(Exception):
    """An error of a known kind; subclasses fix `kind`, instances may override it."""

    kind: FailureKind = FailureKind.INTERNAL

    def __init__(self, message: str, kind: FailureKind | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind
