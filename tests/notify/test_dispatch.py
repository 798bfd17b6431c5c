"""Delivery in the background: retries, final failures, and receivers that never answer."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time

from imagebot.notify import AlertRule, Backoff, Dispatcher, ProviderSettings
from tests.notify.events import delivery
from tests.support.webhookreceiver import Reply

FAST = Backoff(initial=0.02, factor=2.0, maximum=0.2)


def one_route(
    address: str, kind: str = "slack", *, timeout: float = 5.0, retries: int = 3, backoff: Backoff = FAST
) -> Dispatcher:
    provider = ProviderSettings("chat", "flux-system", kind, address, timeout=timeout)  # type: ignore[arg-type]
    rule = AlertRule("all", "flux-system", "chat", event_sources=[("ImageUpdateAutomation", "*")])
    return Dispatcher([provider], [rule], retries=retries, backoff=backoff)


def run(dispatcher: Dispatcher, drain: float = 5.0) -> bool:
    async def scenario() -> bool:
        assert dispatcher.dispatch(delivery()) == 1
        return await dispatcher.drain(drain)

    return asyncio.run(scenario())


def test_fails_twice_then_succeeds(webhook_receiver, caplog):
    receiver = webhook_receiver("slack")
    receiver.script(500, Reply(503, "busy"))
    caplog.set_level(logging.INFO, logger="imagebot.notify")

    assert run(one_route(receiver.url("/services/T/B/x")))

    assert [r.errors for r in receiver.requests] == [[], [], []]
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_429_waits_for_retry_after(webhook_receiver):
    receiver = webhook_receiver("slack")
    receiver.script(Reply(429, "rate_limited", {"Retry-After": "1"}))
    started = time.monotonic()

    assert run(one_route(receiver.url("/services/T/B/x"), backoff=Backoff(initial=0.01, maximum=5.0)))

    assert len(receiver.requests) == 2
    assert time.monotonic() - started >= 0.95  # Retry-After, not the 10 ms backoff


def test_client_error_is_final_and_logged_with_what_to_do(webhook_receiver, caplog):
    receiver = webhook_receiver("slack")
    receiver.default = Reply(404, "no_service")

    assert run(one_route(receiver.url("/services/T/B/x")))

    assert len(receiver.requests) == 1
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "imagebot.notify"]
    message = warning.getMessage()
    assert "HTTP 404: no_service" in message and "update the `address` key" in message


def test_a_final_failure_is_reported_once_to_the_failure_callback(webhook_receiver):
    receiver = webhook_receiver("slack")
    receiver.default = Reply(404, "no_service")
    failed: list[str] = []
    provider = ProviderSettings("chat", "flux-system", "slack", receiver.url("/services/T/B/x"))  # type: ignore[arg-type]
    rule = AlertRule("all", "flux-system", "chat", event_sources=[("ImageUpdateAutomation", "*")])
    dispatcher = Dispatcher([provider], [rule], backoff=FAST, on_failure=lambda route: failed.append(route.alert.ref))

    assert run(dispatcher)
    assert failed == [rule.ref]


def test_gives_up_after_the_retries_on_a_refused_connection(caplog):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    caplog.set_level(logging.INFO, logger="imagebot.notify")

    assert run(one_route(f"http://127.0.0.1:{port}/services/T/B/x", retries=2))

    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == 2
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "ConnectError" in warning.getMessage() and "gave up after 3 attempts" in warning.getMessage()


def test_a_receiver_that_never_answers_blocks_neither_dispatch_nor_other_providers(webhook_receiver, caplog):
    stuck = webhook_receiver("slack")
    stuck.default = Reply(hang=True)
    healthy = webhook_receiver("generic")
    providers = [
        ProviderSettings("stuck", "flux-system", "slack", stuck.url("/services/T/B/x"), timeout=30.0),
        ProviderSettings("healthy", "flux-system", "generic", healthy.url("/hook")),
    ]
    sources = [("ImageUpdateAutomation", "*")]
    alerts = [
        AlertRule("to-stuck", "flux-system", "stuck", event_sources=sources),
        AlertRule("to-healthy", "flux-system", "healthy", event_sources=sources),
    ]
    dispatcher = Dispatcher(providers, alerts, backoff=FAST)

    async def scenario() -> tuple[float, float, bool]:
        started = time.monotonic()
        assert dispatcher.dispatch(delivery()) == 2
        dispatch_took = time.monotonic() - started
        await asyncio.to_thread(healthy.wait_for, 1)
        await asyncio.to_thread(stuck.wait_for, 1)
        drain_started = time.monotonic()
        drained = await dispatcher.drain(0.5)
        return dispatch_took, time.monotonic() - drain_started, drained

    dispatch_took, drain_took, drained = asyncio.run(scenario())

    assert dispatch_took < 0.05
    assert len(healthy.requests) == 1 and healthy.requests[0].errors == []
    assert not drained and 0.45 <= drain_took < 1.5
    assert dispatcher.pending == 0
    assert "1 notification(s) still in flight after 0.5s were abandoned" in caplog.text


def test_read_timeout_counts_as_a_failed_attempt(webhook_receiver, caplog):
    receiver = webhook_receiver("slack")
    receiver.script(Reply(hang=True))

    assert run(one_route(receiver.url("/services/T/B/x"), timeout=0.3))

    assert len(receiver.requests) == 2
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_dispatch_from_another_thread_is_handed_to_the_loop(webhook_receiver):
    receiver = webhook_receiver("slack")
    dispatcher = one_route(receiver.url("/services/T/B/x"))

    async def scenario() -> bool:
        assert dispatcher.dispatch(delivery()) == 1  # binds the dispatcher to this loop
        counts: list[int] = []
        worker = threading.Thread(target=lambda: counts.append(dispatcher.dispatch(delivery())))
        worker.start()
        await asyncio.to_thread(worker.join)
        assert counts == [1]
        return await dispatcher.drain(5.0)

    assert asyncio.run(scenario())
    assert len(receiver.wait_for(2)) == 2


def test_dispatch_without_any_event_loop_reports_and_does_not_raise(caplog):
    dispatcher = one_route("http://127.0.0.1:9/services/T/B/x")
    assert dispatcher.dispatch(delivery()) == 0
    assert "no event loop" in caplog.text


def test_alert_event_metadata_is_added_without_overriding_the_event(webhook_receiver):
    receiver = webhook_receiver("generic")
    provider = ProviderSettings("hook", "flux-system", "generic", receiver.url("/flux"))  # type: ignore[arg-type]
    rule = AlertRule("all", "flux-system", "hook", event_sources=[("ImageUpdateAutomation", "*")],
                     event_metadata={"env": "prod", "cluster": "not-this-one"})

    assert run(Dispatcher([provider], [rule], backoff=FAST))

    [request] = receiver.requests
    metadata = request.json()["metadata"]
    assert metadata["env"] == "prod" and metadata["cluster"] == "eu-1"  # the event's own key wins, as in Flux
