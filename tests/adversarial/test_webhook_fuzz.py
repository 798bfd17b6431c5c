"""Property-based fuzzing of webhook parsing: whatever the body and headers, a webhook is
accepted or refused with a clear 4xx, never a traceback or a 500."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from imagebot.service.app import build_app, service_routes
from imagebot.service.hooks import HookEndpoint
from imagebot.service.limits import Limits
from imagebot.service.metrics import Metrics
from imagebot.service.receivers import (
    DISTRIBUTION_EVENTS_TYPE,
    HookError,
    HookResult,
    ReceiverSettings,
    ReceiverType,
    ResourceRef,
    verify,
)

TOKEN = "fuzz-token"
SIGNED = {ReceiverType.GENERIC_HMAC: "X-Signature", ReceiverType.GITHUB: "X-Hub-Signature-256",
          ReceiverType.BITBUCKET: "X-Hub-Signature"}
TOKEN_HEADER = {ReceiverType.GITLAB: "X-Gitlab-Token", ReceiverType.HARBOR: "Authorization"}


def receiver(kind: ReceiverType) -> ReceiverSettings:
    return ReceiverSettings(f"{kind.value}-r", "fuzz", kind, TOKEN, [ResourceRef("ImageRepository", "app")],
                            events=("push",))


# JSON documents shaped like the payloads each type reads, with every field free to be the wrong type.
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
keys = st.sampled_from(["events", "action", "target", "repository", "tag", "mediaType", "digest", "request", "host",
                        "type", "event_data", "resources", "resource_url", "push_data", "repo_name", "docker_url",
                        "updated_tags", "payload"]) | st.text(max_size=8)
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
                         max_leaves=30)
bodies = documents.map(lambda d: json.dumps(d).encode()) | st.binary(max_size=200)
content_types = st.sampled_from(["application/json", DISTRIBUTION_EVENTS_TYPE, "application/x-www-form-urlencoded",
                                 "text/plain", "", "application/json; charset=utf-8"])
events = (st.sampled_from(["push", "ping", "Push Hook", "repo:refs_changed", "diagnostics:ping", ""])
          | st.text(max_size=10))


def call(kind: ReceiverType, body: bytes, content_type: str, event: str, signed: bool) -> tuple[dict[str, str], bytes]:
    """Headers and body of a call; `signed` ones carry a valid signature or token, to reach the parsers."""
    if content_type == "application/x-www-form-urlencoded":
        body = b"payload=" + body
    headers = {"Content-Type": content_type, "X-GitHub-Event": event, "X-Event-Key": event, "X-Gitlab-Event": event}
    if kind in SIGNED and signed:
        headers[SIGNED[kind]] = "sha256=" + hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
    if kind in TOKEN_HEADER and signed:
        headers[TOKEN_HEADER[kind]] = TOKEN
    return headers, body


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(list(ReceiverType)), body=bodies, content_type=content_types, event=events,
       signed=st.booleans())
@example(kind=ReceiverType.HARBOR, body=b'{"type": "PUSH_ARTIFACT", "event_data": {"resources": 5}}',
         content_type="application/json", event="", signed=True)
@example(kind=ReceiverType.DOCKERHUB, body=b"[" * 100_000, content_type="application/json", event="", signed=True)
@example(kind=ReceiverType.GENERIC, body=b'{"events": ' + b"[" * 100_000, content_type="application/json", event="",
         signed=True)
def test_verify_accepts_or_refuses_with_a_4xx(kind: ReceiverType, body: bytes, content_type: str, event: str,
                                              signed: bool) -> None:
    headers, body = call(kind, body, content_type, event, signed)
    try:
        result = verify(receiver(kind), "POST", headers, body)
    except HookError as e:
        assert e.status in (400, 401), e
        assert e.message and "Traceback" not in e.message
        assert TOKEN not in e.message
        return
    assert isinstance(result, HookResult)
    for image in result.pushed:
        assert isinstance(image.repository, str) and image.repository
        assert all(v is None or isinstance(v, str) for v in (image.tag, image.host, image.digest))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(list(ReceiverType)), body=bodies, content_type=content_types, event=events,
       signed=st.booleans(), method=st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH"]))
def test_the_hook_endpoint_never_answers_5xx(kind: ReceiverType, body: bytes, content_type: str, event: str,
                                             signed: bool, method: str) -> None:
    async def on_hook(*_: Any) -> None:
        return None

    metrics = Metrics()
    hooks = HookEndpoint(on_hook, [receiver(k) for k in ReceiverType], metrics=metrics)
    app = build_app(service_routes(hooks=hooks, metrics=metrics, ready=lambda: True), Limits())

    async def send() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://imagebot") as client:
            headers, content = call(kind, body, content_type, event, signed)
            return await client.request(method, receiver(kind).path, content=content,
                                        headers={k: v.encode() for k, v in headers.items()})

    response = asyncio.run(send())
    assert 200 <= response.status_code < 500, response.text
    assert response.text.endswith("\n") and "Traceback" not in response.text
