"""Generic webhooks, as Flux's `generic` and `generic-hmac` providers send them.

The body is Flux's JSON Event (`involvedObject`, `severity`, `timestamp`, `message`, `reason`,
`metadata`, `reportingController`, `reportingInstance`) with a `Gotk-Component` header, so a
receiver written for Flux works unchanged. `generic-hmac` adds `X-Signature: sha256=<hex>`, the
HMAC-SHA256 of the exact body bytes keyed with the secret's `token`.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
from datetime import UTC
from typing import Any

from ._model import Event
from ._post import Delivery, WebhookNotifier, json_body

REPORTING_CONTROLLER = "imagebot"
COMPONENT_HEADER = "Gotk-Component"
SIGNATURE_HEADER = "X-Signature"


def flux_event(event: Event) -> dict[str, Any]:
    """Flux's Event object. Delivery details go into `metadata` (strings only, as in Flux) without
    overriding keys the event already has; the image changes ride along as an extra `changes` list,
    which Flux-style receivers ignore."""
    derived: dict[str, str] = {}
    if event.automation:
        derived["automation"] = event.automation
    if event.commit:
        # Flux's revision format: `<branch>@sha1:<commit>`.
        derived["revision"] = f"{event.branch}@sha1:{event.commit}" if event.branch else f"sha1:{event.commit}"
        derived["commit"] = event.commit
    if event.branch:
        derived["branch"] = event.branch
    if event.pull_request_url:
        derived["pullRequest"] = event.pull_request_url
    if event.repository_url:
        derived["repository"] = event.repository_url
    obj = event.involved_object
    body: dict[str, Any] = {
        "involvedObject": {"kind": obj.kind, "namespace": obj.namespace, "name": obj.name},
        "severity": event.severity.value,
        # Kubernetes' metav1.Time: RFC 3339 in UTC, whole seconds.
        "timestamp": event.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "message": event.message,
        "reason": event.reason,
        "metadata": {**derived, **event.metadata},
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": socket.gethostname(),
    }
    if event.changes:
        body["changes"] = [{"file": c.file, "object": c.object, "old": c.old, "new": c.new} for c in event.changes]
    return body


def signature(key: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


class GenericNotifier(WebhookNotifier):
    def render(self, event: Event) -> Delivery:
        headers = {COMPONENT_HEADER: REPORTING_CONTROLLER, **self.base_headers()}
        return Delivery(self.url, json_body(flux_event(event)), headers)


class GenericHMACNotifier(GenericNotifier):
    def render(self, event: Event) -> Delivery:
        delivery = super().render(event)
        assert self.settings.hmac_key is not None  # notifier_for refuses generic-hmac without a key
        headers = {**delivery.headers, SIGNATURE_HEADER: signature(self.settings.hmac_key, delivery.body)}
        return Delivery(delivery.url, delivery.body, headers)
