"""Events, Flux `Provider` settings and Flux `Alert` rules: plain values, no I/O."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

import re2

if TYPE_CHECKING:
    from imagebot.proxy import Proxy
    from imagebot.release import Release


class Severity(StrEnum):
    INFO = "info"
    ERROR = "error"


class ProviderType(StrEnum):
    SLACK = "slack"
    MSTEAMS = "msteams"
    DISCORD = "discord"
    GENERIC = "generic"
    GENERIC_HMAC = "generic-hmac"


class NotifyError(Exception):
    """A notification could not be delivered. The text never contains the webhook URL or a token."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class NotifyConfigError(ValueError):
    """A Provider or Alert that cannot work as written; the text says which object and what to fix."""


@dataclass(frozen=True, slots=True)
class ObjectRef:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        # Flux's notifiers name objects this way (`imageupdateautomation/apps.flux-system`).
        return f"{self.kind.lower()}/{self.name}.{self.namespace}"


@dataclass(frozen=True, slots=True)
class ImageChange:
    file: str
    object: str
    old: str
    new: str
    release: Release | None = None  # the new image's source, compare link and release notes, when known


@dataclass(frozen=True)
class ApprovalNote:
    """An event about an approval request (spec.approval). `action` "requested" carries Approve/Reject
    buttons in Slack; `threads` (Provider ref -> Slack message ts) puts a follow-up in the request's
    thread where the Provider posts with the Web API; `on_posted(provider, channel, ts)` learns those."""

    id: int
    action: str  # requested, superseded, expired, withdrawn, approved, rejected, delivered
    threads: Mapping[str, str] = field(default_factory=dict)
    on_posted: Callable[[str, str, str], None] | None = field(default=None, compare=False, repr=False)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    severity: Severity
    reason: str
    message: str
    involved_object: ObjectRef
    automation: str | None = None
    changes: Sequence[ImageChange] = ()
    commit: str | None = None
    branch: str | None = None
    pull_request_url: str | None = None
    repository_url: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)  # the involved object's, for Alert matchLabels
    approval: ApprovalNote | None = None  # spec.approval: the request this event is about
    timestamp: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(self, "changes", tuple(self.changes))
        object.__setattr__(self, "metadata", MappingProxyType({str(k): str(v) for k, v in self.metadata.items()}))
        if self.timestamp.tzinfo is None:  # a naive time from the caller is taken as UTC, not local
            object.__setattr__(self, "timestamp", self.timestamp.replace(tzinfo=UTC))

    @property
    def short_commit(self) -> str | None:
        return self.commit[:7] if self.commit else None

    @property
    def subject(self) -> str:
        """What the event is about, for titles: the automation's name, else the involved object."""
        return self.automation or str(self.involved_object)

    def with_metadata(self, extra: Mapping[str, str]) -> Event:
        return dataclasses.replace(self, metadata={**self.metadata, **extra})


@dataclass(frozen=True)
class ProviderSettings:
    """A Flux `Provider` with its secret already resolved. Secret-bearing fields stay out of `repr`."""

    name: str
    namespace: str
    type: ProviderType
    address: str = field(repr=False)
    channel: str | None = None
    username: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    hmac_key: bytes | None = field(default=None, repr=False)
    # Slack's Web API (`chat.postMessage`) needs a bot token; the secretRef key is `token`, as in Flux.
    token: str | None = field(default=None, repr=False)
    timeout: float = 15.0
    suspend: bool = False
    proxy: Proxy | None = field(default=None, repr=False)  # proxySecretRef (or the deprecated spec.proxy)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "type", ProviderType(self.type))
        except ValueError:
            supported = ", ".join(t.value for t in ProviderType)
            raise NotifyConfigError(
                f"Provider {self.namespace}/{self.name}: type {self.type!r} is not supported; use one of {supported}"
            ) from None
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        if isinstance(self.hmac_key, str):
            object.__setattr__(self, "hmac_key", self.hmac_key.encode())

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def secrets(self) -> list[str]:
        """Every string that must never be shown: the address, header values, the token, the key."""
        values = [self.address, *self.headers.values()]
        if self.token:
            values.append(self.token)
        if self.hmac_key:
            values.append(self.hmac_key.decode("utf-8", "replace"))
        return [v for v in values if v]


class EventSource(NamedTuple):
    kind: str
    name: str
    namespace: str | None = None  # None: the Alert's own namespace, as in Flux
    match_labels: Mapping[str, str] | None = None  # with name "*": only objects carrying these labels


@dataclass(frozen=True)
class AlertRule:
    """A Flux `Alert`: which events (by source, severity and message) go to which provider."""

    name: str
    namespace: str
    provider: str
    event_severity: Severity = Severity.INFO
    event_sources: Sequence[EventSource] = ()
    inclusion_list: Sequence[str] = ()
    exclusion_list: Sequence[str] = ()
    summary: str | None = None
    event_metadata: Mapping[str, str] = field(default_factory=dict)  # Flux: added where the event has no such key
    suspend: bool = False
    _inclusion: tuple[Any, ...] = field(init=False, repr=False, compare=False, default=())
    _exclusion: tuple[Any, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "event_severity", Severity(self.event_severity))
        object.__setattr__(self, "event_sources", tuple(EventSource(*s) for s in self.event_sources))
        object.__setattr__(self, "_inclusion", self._compile("inclusionList", self.inclusion_list))
        object.__setattr__(self, "_exclusion", self._compile("exclusionList", self.exclusion_list))

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    def matches(self, event: Event) -> bool:
        """Flux's rules: a source matches on kind, namespace and name (`*` for any); severity `info`
        takes every event, `error` only errors; the message must match an inclusion pattern (when
        there are any) and no exclusion pattern (exclusion wins)."""
        if self.suspend:
            return False
        if self.event_severity is Severity.ERROR and event.severity is not Severity.ERROR:
            return False
        if not any(self._source_matches(s, event.involved_object, event.labels) for s in self.event_sources):
            return False
        if self._inclusion and not any(p.search(event.message) for p in self._inclusion):
            return False
        return not any(p.search(event.message) for p in self._exclusion)

    def _source_matches(self, source: EventSource, obj: ObjectRef, labels: Mapping[str, str]) -> bool:
        namespace = source.namespace or self.namespace
        if source.kind != obj.kind or namespace != obj.namespace:
            return False
        if source.name != "*":
            return source.name == obj.name
        return all(labels.get(k) == v for k, v in (source.match_labels or {}).items())

    def _compile(self, field_name: str, patterns: Sequence[str]) -> tuple[Any, ...]:
        compiled = []
        for pattern in patterns:
            try:
                compiled.append(re2.compile(pattern))
            except re2.error as err:
                reason = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
                raise NotifyConfigError(
                    f"Alert {self.ref}: {field_name} entry {pattern!r} is not a valid RE2 regular "
                    f"expression ({reason}); Flux uses Go's regexp syntax"
                ) from None
        return tuple(compiled)
