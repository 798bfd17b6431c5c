"""Flux `Receiver` semantics: webhook paths and per-type request verification.

Compatibility matters more than taste here: the path is computed exactly as
notification-controller does, so a webhook configured at GitHub, Harbor or a registry for
Flux keeps working when pointed at imagebot. Where Flux answers 400 for every validation
failure, we answer 401 for authentication failures and 400 for malformed bodies.

This module does no I/O: `verify` takes the request parts and returns what to trigger.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs

HOOK_PREFIX = "/hook/"

# CNCF distribution's notification envelope media type.
DISTRIBUTION_EVENTS_TYPE = "application/vnd.docker.distribution.events.v1+json"

_HMAC_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


class ReceiverType(StrEnum):
    GENERIC = "generic"
    GENERIC_HMAC = "generic-hmac"
    GITHUB = "github"
    GITLAB = "gitlab"
    BITBUCKET = "bitbucket"
    HARBOR = "harbor"
    DOCKERHUB = "dockerhub"
    QUAY = "quay"
    ACR = "acr"


# The types on which Flux applies `spec.events`; on the others the field has no effect.
_EVENT_FILTERED = {ReceiverType.GITHUB, ReceiverType.GITLAB, ReceiverType.BITBUCKET}


@dataclass(frozen=True)
class ResourceRef:
    """An object a Receiver triggers (Flux's CrossNamespaceObjectReference, without labels)."""

    kind: str
    name: str
    namespace: str | None = None


@dataclass(frozen=True)
class PushedImage:
    """One image push reported by the webhook's payload, when the payload says which."""

    repository: str
    tag: str | None = None
    host: str | None = None
    digest: str | None = None


@dataclass(frozen=True)
class ReceiverSettings:
    """A Flux Receiver with its token already read from `secretRef` key `token`."""

    name: str
    namespace: str
    type: ReceiverType | str
    token: str = field(repr=False)  # a secret: kept out of repr, logs and errors
    resources: Sequence[ResourceRef] = ()
    events: Sequence[str] = ()

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "type", ReceiverType(self.type))
        except ValueError:
            known = ", ".join(t.value for t in ReceiverType)
            raise ValueError(
                f"Receiver {self.namespace}/{self.name}: type {self.type!r} is not supported (use one of {known})"
            ) from None
        if not self.name or not self.namespace:
            raise ValueError("Receiver: metadata.name and metadata.namespace must not be empty")
        if not self.token:
            raise ValueError(
                f"Receiver {self.namespace}/{self.name}: the secret's 'token' is empty; "
                "Flux requires a token, it salts the webhook path"
            )
        object.__setattr__(self, "resources", tuple(self.resources))
        object.__setattr__(self, "events", tuple(self.events))

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def path(self) -> str:
        return hook_path(self.token, self.name, self.namespace)


@dataclass(frozen=True)
class HookResult:
    """What a verified webhook asks for. `ignored` says why nothing is to be triggered."""

    resources: list[ResourceRef]
    pushed: list[PushedImage] = field(default_factory=list)
    event: str | None = None
    ignored: str | None = None


class HookError(Exception):
    """A webhook call that must be refused; `message` never contains the token."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def hook_path(token: str, name: str, namespace: str) -> str:
    """Flux's `Receiver.GetWebhookPath`: `/hook/` + hex sha256 of token, name, namespace concatenated."""
    return HOOK_PREFIX + hashlib.sha256((token + name + namespace).encode()).hexdigest()


def verify(settings: ReceiverSettings, method: str, headers: Mapping[str, str], body: bytes) -> HookResult:
    """Authenticate one webhook call for `settings` and say what it triggers.

    Raises HookError: 405 for a method other than POST, 401 for a missing or wrong token or
    signature, 400 for a body that the receiver type cannot read. An event outside
    `settings.events` is not an error: the result has `ignored` set and no resources.
    """
    if method.upper() != "POST":
        raise HookError(405, f"method {method} not allowed, webhooks are POST")
    h = _lower_keys(headers)
    kind = ReceiverType(settings.type)
    event: str | None = None
    pushed: list[PushedImage] = []

    if kind is ReceiverType.GENERIC:
        pushed_or_none = _distribution_pushes(h, body)
        if pushed_or_none is not None:
            if not pushed_or_none:
                return HookResult([], event="distribution", ignored="no manifest push in the events")
            pushed, event = pushed_or_none, "distribution"
    elif kind is ReceiverType.GENERIC_HMAC:
        _check_signature(h.get("x-signature", ""), "X-Signature", settings.token, body)
    elif kind in (ReceiverType.GITHUB, ReceiverType.BITBUCKET):
        header = "x-hub-signature-256" if "x-hub-signature-256" in h else "x-hub-signature"
        _check_signature(h.get(header, ""), "X-Hub-Signature-256", settings.token, body)
        _forge_payload(h, body)
        event = h.get("x-github-event" if kind is ReceiverType.GITHUB else "x-event-key", "")
        # A ping (GitHub's, Bitbucket Server's "Test connection") only checks the setup.
        if event.lower() in ("ping", "diagnostics:ping"):
            return HookResult([], event=event, ignored="ping")
    elif kind is ReceiverType.GITLAB:
        _check_token(h.get("x-gitlab-token", ""), "X-Gitlab-Token", settings.token)
        event = h.get("x-gitlab-event", "")
    elif kind is ReceiverType.HARBOR:
        _check_token(h.get("authorization", ""), "Authorization", settings.token)
        pushed = _harbor_pushes(body)
    elif kind is ReceiverType.DOCKERHUB:
        pushed = _dockerhub_pushes(body)
    elif kind is ReceiverType.QUAY:
        pushed = _quay_pushes(body)
    elif kind is ReceiverType.ACR:
        pushed = _acr_pushes(body)

    if kind in _EVENT_FILTERED and settings.events and not _event_allowed(event or "", settings.events):
        return HookResult([], event=event, ignored=f"event {event!r} is not in spec.events")
    resources = [
        ResourceRef(r.kind, r.name, r.namespace or settings.namespace) for r in settings.resources
    ]
    return HookResult(resources, pushed=pushed, event=event)


def _lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in headers.items():
        out.setdefault(k.lower(), v)  # first value wins, as Go's Header.Get
    return out


def _event_allowed(event: str, allowed: Sequence[str]) -> bool:
    return any(event.casefold() == e.casefold() for e in allowed)


def _check_token(given: str, header: str, token: str) -> None:
    if not given:
        raise HookError(401, f"the {header} header is missing")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise HookError(401, f"the {header} header does not match the receiver token")


def _check_signature(value: str, header: str, token: str, body: bytes) -> None:
    """Check `<algo>=<hex HMAC of body>` with the token as key (go-github's ValidateSignature)."""
    if not value:
        raise HookError(401, f"the {header} signature header is missing")
    algo, sep, given = value.partition("=")
    digestmod = _HMAC_ALGORITHMS.get(algo.strip().lower())
    if not sep or digestmod is None:
        raise HookError(401, f"the {header} signature must be sha1=, sha256= or sha512= followed by hex")
    try:
        given_mac = bytes.fromhex(given.strip())
    except ValueError:
        raise HookError(401, f"the {header} signature is not hexadecimal") from None
    expected = hmac.new(token.encode(), body, digestmod).digest()
    if not hmac.compare_digest(given_mac, expected):
        raise HookError(401, f"the {header} signature does not match the body")


def _forge_payload(headers: Mapping[str, str], body: bytes) -> Any:
    """The JSON payload of a GitHub-style delivery: raw JSON or a form field `payload`."""
    ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype == "application/json":
        raw = body
    elif ctype == "application/x-www-form-urlencoded":
        values = parse_qs(body.decode("utf-8", "replace")).get("payload")
        if not values:
            raise HookError(400, "form-encoded webhook without a 'payload' field")
        raw = values[0].encode()
    else:
        raise HookError(400, f"unsupported Content-Type {ctype or '(none)'!r}: use application/json")
    return _json(raw, "webhook payload")


# What json.loads raises on bad input: RecursionError for nesting deeper than the interpreter's
# stack (a 1 MB body of "[" reaches it), ValueError (UnicodeDecodeError included) for the rest.
_JSON_ERRORS = (ValueError, RecursionError)


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise HookError(400, f"{what} is nested too deeply") from None
    except ValueError as e:
        raise HookError(400, f"{what} is not valid JSON: {_short(str(e))}") from None


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _obj(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HookError(400, f"{what} must be a JSON object")
    return value


def _str(value: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise HookError(400, f"{what} must be a string")
    return value


def _split_host(reference: str) -> tuple[str | None, str]:
    """`host/path` -> (host, path) when the first component looks like a registry host."""
    first, sep, rest = reference.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return None, reference


def _dockerhub_pushes(body: bytes) -> list[PushedImage]:
    payload = _obj(_json(body, "DockerHub payload"), "DockerHub payload")
    tag = _str(_obj(payload.get("push_data"), "push_data").get("tag"), "push_data.tag")
    repo = _obj(payload.get("repository"), "repository")
    name = _str(repo.get("repo_name"), "repository.repo_name")
    return [PushedImage(name, tag, "docker.io")] if name else []


def _quay_pushes(body: bytes) -> list[PushedImage]:
    payload = _obj(_json(body, "Quay payload"), "Quay payload")
    url = _str(payload.get("docker_url"), "docker_url")
    tags = payload.get("updated_tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise HookError(400, "updated_tags must be a list of strings")
    if not url:
        return []
    host, repository = _split_host(url)
    return [PushedImage(repository, t, host) for t in tags] or [PushedImage(repository, None, host)]


def _harbor_pushes(body: bytes) -> list[PushedImage]:
    # Flux does not read Harbor's body; we read what a PUSH_ARTIFACT event says and
    # ignore what we do not understand, since the Authorization check already passed.
    try:
        payload = json.loads(body)
    except _JSON_ERRORS:
        return []
    if not isinstance(payload, dict) or payload.get("type") != "PUSH_ARTIFACT":
        return []
    data = payload.get("event_data")
    resources = data.get("resources") if isinstance(data, dict) else None
    if not isinstance(resources, list):
        return []
    pushed = []
    for res in resources:
        url = res.get("resource_url") if isinstance(res, dict) else None
        if not isinstance(url, str) or not url:
            continue
        host, rest = _split_host(url)
        repository, _, tag = rest.partition("@")[0].rpartition(":")
        if not repository:  # no tag in the URL
            repository, tag = rest.partition("@")[0], ""
        if not repository:
            continue
        digest = res.get("digest") if isinstance(res.get("digest"), str) else None
        named = res.get("tag") if isinstance(res.get("tag"), str) else None
        pushed.append(PushedImage(repository, named or tag or None, host, digest))
    return pushed


def _acr_pushes(body: bytes) -> list[PushedImage]:
    payload = _obj(_json(body, "ACR payload"), "ACR payload")
    return _registry_event_pushes([payload], "ACR payload")


def _distribution_pushes(headers: Mapping[str, str], body: bytes) -> list[PushedImage] | None:
    """Manifest pushes from a CNCF distribution envelope, or None when the body is not one.

    The envelope is recognised by its media type, or by a JSON object holding `events`.
    """
    ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    declared = ctype == DISTRIBUTION_EVENTS_TYPE
    if not declared:
        if ctype != "application/json" or not body.lstrip().startswith(b"{"):
            return None
        try:
            payload = json.loads(body)
        except _JSON_ERRORS:
            return None  # a generic receiver reads no body; Flux ignores it too
        if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
            return None
    else:
        payload = _obj(_json(body, "registry notification"), "registry notification")
    events = payload.get("events")
    if not isinstance(events, list):
        raise HookError(400, "registry notification must hold a list 'events'")
    return _registry_event_pushes(events, "registry notification event")


def _registry_event_pushes(events: list[Any], what: str) -> list[PushedImage]:
    pushed: list[PushedImage] = []
    for raw in events:
        ev = _obj(raw, what)
        if ev.get("action") != "push":
            continue  # pulls, deletes, mounts
        target = _obj(ev.get("target"), f"{what} target")
        repository = _str(target.get("repository"), "target.repository")
        tag = _str(target.get("tag"), "target.tag")
        media_type = _str(target.get("mediaType"), "target.mediaType") or ""
        # Blob uploads are push events too; only a manifest (by tag or digest) is an image push.
        if not repository or (tag is None and "manifest" not in media_type and "index" not in media_type):
            continue
        host = _str(_obj(ev.get("request"), f"{what} request").get("host"), "request.host")
        image = PushedImage(repository, tag, host, _str(target.get("digest"), "target.digest"))
        if image not in pushed:
            pushed.append(image)
    return pushed
