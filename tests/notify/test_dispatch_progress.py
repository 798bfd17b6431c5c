"""dispatch(on_start, on_done): when an event may start to reach its receivers, and when its sends
are through. What a delivery's record (sending, notified) is built on."""

from __future__ import annotations

import asyncio

from imagebot.notify import AlertRule, Backoff, Dispatcher, ProviderSettings
from tests.notify.events import delivery
from tests.support.webhookreceiver import Reply

FAST = Backoff(initial=0.02, factor=2.0, maximum=0.2)


def routes(*addresses: str) -> Dispatcher:
    providers = [ProviderSettings(f"p{i}", "flux-system", "slack", address, timeout=2.0)  # type: ignore[arg-type]
                 for i, address in enumerate(addresses)]
    rules = [AlertRule(f"a{i}", "flux-system", f"p{i}", event_sources=[("ImageUpdateAutomation", "*")])
             for i in range(len(addresses))]
    return Dispatcher(providers, rules, retries=2, backoff=FAST)


def test_start_comes_once_before_the_first_request_and_done_once_after_the_last(webhook_receiver) -> None:
    first, second = webhook_receiver("slack"), webhook_receiver("slack")
    second.script(500)  # retried: still one start, one done
    seen: list[str] = []

    async def scenario() -> bool:
        dispatcher = routes(first.url("/services/T/B/x"), second.url("/services/T/B/y"))
        def start() -> None:
            seen.append(f"start after {len(first.requests) + len(second.requests)}")

        count = dispatcher.dispatch(delivery(), on_start=start, on_done=lambda: seen.append("done"))
        assert count == 2 and seen == []  # nothing before the loop runs the sends
        return await dispatcher.drain(5)

    assert asyncio.run(scenario())
    assert seen == ["start after 0", "done"]
    assert len(first.requests) == 1 and len(second.requests) == 2


def test_a_send_cancelled_before_its_answer_is_never_done(webhook_receiver) -> None:
    receiver = webhook_receiver("slack")
    receiver.script(Reply(hang=True))
    seen: list[str] = []

    async def scenario() -> bool:
        dispatcher = routes(receiver.url("/services/T/B/x"))
        dispatcher.dispatch(delivery(), on_start=lambda: seen.append("start"), on_done=lambda: seen.append("done"))
        return await dispatcher.drain(0.5)

    assert asyncio.run(scenario()) is False
    assert seen == ["start"] and len(receiver.requests) == 1
