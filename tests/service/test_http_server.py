"""The real server on 127.0.0.1:0, driven with httpx and raw sockets."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from imagebot.service.app import build_app
from imagebot.service.limits import Limits
from imagebot.service.metrics import FailureKind
from imagebot.service.receivers import DISTRIBUTION_EVENTS_TYPE, PushedImage, ReceiverType, ResourceRef
from imagebot.service.server import HttpServer

from .conftest import TOKEN, Service, receiver_for

pytestmark = pytest.mark.anyio

EXPECTED_RESOURCES = [ResourceRef("ImageRepository", "podinfo", "apps"), ResourceRef("ImageRepository", "web", "other")]


def path(kind: ReceiverType) -> str:
    return receiver_for(kind).path


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(TOKEN.encode(), body, "sha256").hexdigest()


def valid_call(kind: ReceiverType) -> tuple[dict[str, str], bytes]:
    """A call as the sender of each type makes it, authenticated with TOKEN."""
    json_type = {"Content-Type": "application/json"}
    if kind is ReceiverType.GENERIC:
        return {}, b""
    if kind is ReceiverType.GENERIC_HMAC:
        body = b'{"image": "app"}'
        return {"X-Signature": sign(body)}, body
    if kind is ReceiverType.GITHUB:
        body = b'{"ref": "refs/heads/main"}'
        return {**json_type, "X-Hub-Signature-256": sign(body), "X-GitHub-Event": "push"}, body
    if kind is ReceiverType.BITBUCKET:
        body = b'{"changes": []}'
        return {**json_type, "X-Hub-Signature": sign(body), "X-Event-Key": "repo:refs_changed"}, body
    if kind is ReceiverType.GITLAB:
        return {**json_type, "X-Gitlab-Token": TOKEN, "X-Gitlab-Event": "Push Hook"}, b"{}"
    if kind is ReceiverType.HARBOR:
        return {**json_type, "Authorization": TOKEN}, b'{"type": "PUSH_ARTIFACT"}'
    if kind is ReceiverType.DOCKERHUB:
        return json_type, json.dumps({"push_data": {"tag": "1.0"}, "repository": {"repo_name": "me/app"}}).encode()
    if kind is ReceiverType.QUAY:
        return json_type, json.dumps({"docker_url": "quay.io/me/app", "updated_tags": ["1.0"]}).encode()
    if kind is ReceiverType.ACR:
        body = {"action": "push", "target": {"repository": "app", "tag": "1.0"}, "request": {"host": "r.azurecr.io"}}
        return json_type, json.dumps(body).encode()
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", list(ReceiverType))
async def test_each_receiver_type_triggers_its_resources(service: Service, kind: ReceiverType) -> None:
    headers, body = valid_call(kind)
    async with httpx.AsyncClient(base_url=service.url) as client:
        r = await client.post(path(kind), headers=headers, content=body)
    assert (r.status_code, r.text) == (200, "triggered 2 resource(s)\n")
    [(receiver, result)] = service.calls
    assert receiver.name == f"{kind.value}-receiver"
    assert result.resources == EXPECTED_RESOURCES


async def test_registry_types_report_the_pushed_image(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.url) as client:
        for kind in (ReceiverType.DOCKERHUB, ReceiverType.QUAY, ReceiverType.ACR):
            headers, body = valid_call(kind)
            assert (await client.post(path(kind), headers=headers, content=body)).status_code == 200
    assert [result.pushed for _, result in service.calls] == [
        [PushedImage("me/app", "1.0", "docker.io")],
        [PushedImage("me/app", "1.0", "quay.io")],
        [PushedImage("app", "1.0", "r.azurecr.io")],
    ]


@pytest.mark.parametrize(
    ("kind", "headers"),
    [
        (ReceiverType.GENERIC_HMAC, {"X-Signature": "sha256=" + "0" * 64}),
        (ReceiverType.GENERIC_HMAC, {}),
        (ReceiverType.GITHUB, {"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=00"}),
        (ReceiverType.GITLAB, {"X-Gitlab-Token": "guess"}),
        (ReceiverType.HARBOR, {"Authorization": "guess"}),
    ],
)
async def test_bad_signature_or_token_is_401_and_triggers_nothing(
    service: Service, kind: ReceiverType, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=service.url) as client:
        r = await client.post(path(kind), headers=headers, content=b'{"x": 1}')
    assert r.status_code == 401
    assert service.calls == []
    assert service.metrics.registry.get_sample_value("imagebot_failures_total", {"kind": "webhook"}) == 1


@pytest.mark.parametrize(
    ("kind", "headers", "body"),
    [
        (ReceiverType.DOCKERHUB, {}, b"{not json"),
        (ReceiverType.QUAY, {}, b'["a list"]'),
        (ReceiverType.ACR, {}, b'{"action": "push", "target": "app"}'),
        (ReceiverType.GENERIC, {"Content-Type": DISTRIBUTION_EVENTS_TYPE}, b'{"events": "none"}'),
    ],
)
async def test_malformed_body_is_400_and_triggers_nothing(
    service: Service, kind: ReceiverType, headers: dict[str, str], body: bytes
) -> None:
    async with httpx.AsyncClient(base_url=service.url) as client:
        r = await client.post(path(kind), headers=headers, content=body)
    assert r.status_code == 400
    assert service.calls == []


async def test_unknown_path_is_404_whatever_the_method(service: Service) -> None:
    unknown = receiver_for(ReceiverType.GENERIC).path[:-1] + "0"
    async with httpx.AsyncClient(base_url=service.url) as client:
        statuses = [
            (await client.post(unknown)).status_code,
            (await client.get(unknown)).status_code,
            (await client.post("/hook/")).status_code,
            (await client.get("/nothing-here")).status_code,
        ]
    assert statuses == [404, 404, 404, 404]
    assert service.calls == []


async def test_wrong_method_is_405_and_triggers_nothing(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.url) as client:
        hook = await client.get(path(ReceiverType.GENERIC))
        health = await client.post("/healthz")
    assert (hook.status_code, hook.headers["allow"]) == (405, "POST")
    assert (health.status_code, health.headers["allow"]) == (405, "GET")
    assert service.calls == []


async def test_filtered_event_and_ping_are_200_without_trigger(service: Service) -> None:
    service.hooks.set_receivers([receiver_for(ReceiverType.GITHUB, events=("push",))])
    headers, body = valid_call(ReceiverType.GITHUB)
    async with httpx.AsyncClient(base_url=service.url) as client:
        ping = await client.post(path(ReceiverType.GITHUB), headers={**headers, "X-GitHub-Event": "ping"}, content=body)
        star = await client.post(path(ReceiverType.GITHUB), headers={**headers, "X-GitHub-Event": "star"}, content=body)
        push = await client.post(path(ReceiverType.GITHUB), headers=headers, content=body)
    assert (ping.status_code, ping.text) == (200, "ignored: ping\n")
    assert star.status_code == 200 and star.text.startswith("ignored:")
    assert push.status_code == 200 and len(service.calls) == 1


async def test_failing_callback_is_500(service: Service) -> None:
    service.fail_hook = True
    async with httpx.AsyncClient(base_url=service.url) as client:
        r = await client.post(path(ReceiverType.GENERIC))
    assert r.status_code == 500


async def test_oversized_body_is_413(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.url) as client:
        big = await client.post(path(ReceiverType.GENERIC), content=b"x" * (1024 * 1024 + 1))
        limit = await client.post(path(ReceiverType.GENERIC), content=b"x" * (1024 * 1024))
    assert big.status_code == 413
    assert limit.status_code == 200
    assert len(service.calls) == 1


async def test_chunked_body_is_read_and_limited(service: Service) -> None:
    async def chunks(n: int, size: int):  # httpx sends an async iterator chunked
        for _ in range(n):
            yield b"y" * size

    async with httpx.AsyncClient(base_url=service.url) as client:
        ok = await client.post(path(ReceiverType.GENERIC), content=chunks(4, 1000))
        big = await client.post(path(ReceiverType.GENERIC), content=chunks(20, 64 * 1024))
    assert (ok.status_code, big.status_code) == (200, 413)


async def test_keep_alive_serves_several_requests_on_one_connection(service: Service) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", service.server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await reader.readuntil(b"ok\n")
        second = await reader.readuntil(b"not ready\n")
    finally:
        writer.close()
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and b"connection: close" not in first.lower()
    assert second.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")


async def test_slow_client_is_cut_off_after_the_head_timeout(service: Service) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", service.server.port)
    start = time.monotonic()
    try:
        writer.write(b"POST /hook/abc HTTP/1.1\r\nHost: x\r\n")  # and then nothing more
        answer = await asyncio.wait_for(reader.read(), timeout=5)  # until the server closes
    finally:
        writer.close()
    elapsed = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert 0.4 < elapsed < 2.0  # head_timeout is 0.5 s in the fixture


async def test_idle_keep_alive_connection_is_closed(service: Service) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", service.server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readuntil(b"ok\n")
        start = time.monotonic()
        rest = await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()
    assert rest == b"" and time.monotonic() - start < 2.0


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        # Each HTTP/1.1 case has its Host header: without one, h11 refuses any HTTP/1.1 request (400).
        (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", b"505"),
        (b"GET /healthz\r\n\r\n", b"400"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n", b"400"),
        (b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", b"400"),
        (b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\n", b"400"),
        (b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", b"400"),
        (b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", b"501"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20000 + b"\r\n\r\n", b"431"),
    ],
)
async def test_malformed_requests_are_refused(service: Service, raw: bytes, status: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", service.server.port)
    try:
        writer.write(raw)
        answer = await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()
    assert answer.split(b" ")[1] == status


async def test_health_and_readiness(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.url) as client:
        before = await client.get("/readyz")
        service.ready = True
        after = await client.get("/readyz")
        health = await client.get("/healthz")
        head = await client.head("/healthz")
    assert (before.status_code, after.status_code, health.status_code) == (503, 200, 200)
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "3")


async def test_metrics_are_prometheus_text(service: Service) -> None:
    m = service.metrics
    m.scan_finished("apps/podinfo", ok=True, seconds=0.2, tags=42)
    m.scan_finished("apps/podinfo", ok=False, seconds=1.5)
    m.registry_request("ghcr.io", 200, 0.03)
    m.registry_request("ghcr.io", 429, 0.01)
    m.registry_request("ghcr.io", None, 5.0)
    m.policy_changed("apps/podinfo")
    m.committed("apps/flux-system")
    m.pushed("apps/flux-system")
    m.pull_request("apps/flux-system")
    m.failure(FailureKind.PUSH)
    m.automation_run("apps/flux-system", 0.8)
    m.push_to_commit_latency(0.6)
    async with httpx.AsyncClient(base_url=service.url) as client:
        await client.post(path(ReceiverType.GENERIC))
        r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("imagebot_scans_total", image_repository="apps/podinfo", result="ok") == 1
    assert value("imagebot_scans_total", image_repository="apps/podinfo", result="error") == 1
    assert value("imagebot_tags_seen", image_repository="apps/podinfo") == 42
    assert value("imagebot_registry_requests_total", host="ghcr.io", status="429") == 1
    assert value("imagebot_registry_requests_total", host="ghcr.io", status="error") == 1
    assert value("imagebot_registry_rate_limited_total", host="ghcr.io") == 1
    assert value("imagebot_policy_changes_total", image_policy="apps/podinfo") == 1
    assert value("imagebot_commits_total", automation="apps/flux-system") == 1
    assert value("imagebot_pushes_total", automation="apps/flux-system") == 1
    assert value("imagebot_pull_requests_total", automation="apps/flux-system") == 1
    assert value("imagebot_failures_total", kind="push") == 1
    assert value("imagebot_failures_total", kind="auth") == 0  # every kind is exported from the start
    assert value("imagebot_automation_run_duration_seconds_count", automation="apps/flux-system") == 1
    assert value("imagebot_push_to_commit_seconds_bucket", le="0.75") == 1
    assert value("imagebot_push_to_commit_seconds_bucket", le="0.5") == 0
    assert value("imagebot_scan_duration_seconds_sum", image_repository="apps/podinfo") == pytest.approx(1.7)
    assert value("imagebot_webhook_requests_total", receiver="apps/generic-receiver", status="200") == 1


async def test_logs_one_line_per_hook_and_never_the_secret(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="imagebot.service")
    headers, body = valid_call(ReceiverType.GITLAB)
    async with httpx.AsyncClient(base_url=service.url) as client:
        await client.post(path(ReceiverType.GITLAB), headers=headers, content=body)
        await client.post(path(ReceiverType.GITLAB), headers={"X-Gitlab-Token": TOKEN[:-1]}, content=body)
        await client.post("/hook/" + "f" * 64)
    hook_lines = [r.getMessage() for r in caplog.records if "webhook" in r.getMessage()]
    assert len(hook_lines) == 3
    assert "receiver=apps/gitlab-receiver" in hook_lines[0] and "status=200" in hook_lines[0]
    assert "status=401" in hook_lines[1] and "404" in hook_lines[2]
    text = caplog.text
    assert TOKEN not in text and TOKEN[:-1] not in text
    assert path(ReceiverType.GITLAB).removeprefix("/hook/") not in text


async def test_stop_closes_idle_connections_promptly(service: Service) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", service.server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    await reader.readuntil(b"ok\n")
    url = service.url
    start = time.monotonic()
    await service.server.stop()
    assert time.monotonic() - start < 0.3
    assert await asyncio.wait_for(reader.read(), timeout=2) == b""
    writer.close()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=url) as client:
            await client.get("/healthz")


async def test_connections_over_the_cap_are_refused() -> None:
    async def hello(_: Request) -> Response:
        return PlainTextResponse("hello\n")

    limits = Limits(max_connections=1)
    server = HttpServer("127.0.0.1", 0, build_app([Route("/", hello)], limits), limits=limits)
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readuntil(b"hello\n")  # the first connection is open and idle
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            refused = await client.get("/")
        writer.close()
    assert refused.status_code == 503


async def test_expect_continue_is_answered_before_the_body(service: Service) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", service.server.port)
    try:
        hook = path(ReceiverType.GENERIC).encode()
        writer.write(b"POST " + hook + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=2)
        writer.write(b"{}")
        final = await asyncio.wait_for(reader.readuntil(b"resource(s)\n"), timeout=2)
    finally:
        writer.close()
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert final.startswith(b"HTTP/1.1 200 OK")
    assert len(service.calls) == 1


async def test_a_failing_handler_is_500_and_the_server_keeps_serving() -> None:
    async def broken(_: Request) -> Response:
        raise RuntimeError("bug")

    async def fine(_: Request) -> Response:
        return PlainTextResponse("fine\n")

    server = HttpServer("127.0.0.1", 0, build_app([Route("/broken", broken), Route("/fine", fine)], Limits()))
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            statuses = [(await client.get("/broken")).status_code, (await client.get("/fine")).status_code]
    finally:
        await server.stop()
    assert statuses == [500, 200]
