"""Notifications with Flux's `Provider` and `Alert` semantics: Slack, Microsoft Teams, Discord,
generic and generic-hmac webhooks.

    dispatcher = Dispatcher(providers, alerts)
    dispatcher.dispatch(Event(severity="info", reason="CommitCreated", ...))   # returns at once
    await dispatcher.drain(timeout=10)                                          # at shutdown
"""

from imagebot.redact import redact_url
from imagebot.retry import Backoff

from ._dispatch import Dispatcher, Route
from ._factory import Notifier, notifier_for
from ._model import (
    AlertRule,
    ApprovalNote,
    Event,
    EventSource,
    ImageChange,
    NotifyConfigError,
    NotifyError,
    ObjectRef,
    ProviderSettings,
    ProviderType,
    Severity,
)

__all__ = [
    "AlertRule",
    "ApprovalNote",
    "Backoff",
    "Dispatcher",
    "Event",
    "EventSource",
    "ImageChange",
    "Notifier",
    "NotifyConfigError",
    "NotifyError",
    "ObjectRef",
    "ProviderSettings",
    "ProviderType",
    "Route",
    "Severity",
    "notifier_for",
    "redact_url",
]
