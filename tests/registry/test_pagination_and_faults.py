"""Tag pages and misbehaving registries, against a real HTTP server that pages like Docker Hub."""

from __future__ import annotations

import asyncio
import logging
import re
import time

import pytest

from imagebot.registry import (
    AccessOptions,
    Backoff,
    ImageReference,
    InvalidResponse,
    RateLimited,
    RegistryClient,
    RegistryUnavailable,
)
from tests.support.fakeregistry import FakeRegistry, Fault

PLAIN = AccessOptions(insecure=True, timeout=10)
FAST = Backoff(initial=0.01, maximum=0.05)  # keeps retries quick; the schedule itself is tested in test_retry


def ref(fake: FakeRegistry, name: str) -> ImageReference:
    return ImageReference.parse(fake.image(name))


def list_tags(fake: FakeRegistry, name: str, options: AccessOptions = PLAIN, **client_args) -> list[str]:
    async def scan():
        async with RegistryClient(backoff=FAST, **client_args) as client:
            return await client.list_tags(ref(fake, name), options)

    return asyncio.run(scan())


async def scan_all(client: RegistryClient, fake: FakeRegistry, names: list[str],
                   options: AccessOptions = PLAIN) -> dict[str, list[str] | BaseException]:
    results = await asyncio.gather(*(client.list_tags(ref(fake, n), options) for n in names),
                                   return_exceptions=True)
    return dict(zip(names, results, strict=True))


@pytest.mark.parametrize("absolute_links", [False, True])
def test_follows_docker_hub_style_link_pages(fake_registry, absolute_links):
    tags = [f"1.{i}.0" for i in range(250)]
    fake_registry.add("library/app", tags, page_size=100, absolute_links=absolute_links)
    assert sorted(list_tags(fake_registry, "library/app")) == sorted(tags)
    pages = fake_registry.seen("library/app")
    assert len(pages) == 3
    assert pages[1].query == {"last": sorted(tags)[99], "n": "100"}


def test_refuses_a_next_link_to_another_host(fake_registry):
    fake_registry.add("org/app", ["a", "b"], page_size=1,
                      next_link="http://127.0.0.2:9/v2/org/app/tags/list?last=a&n=1")
    with pytest.raises(InvalidResponse, match=r"refusing to follow a tag-list page link to another host .*"
                                              r"http://127\.0\.0\.2:9"):
        list_tags(fake_registry, "org/app")
    assert len(fake_registry.seen()) == 1


def test_stops_when_a_next_link_points_back_to_a_page_already_read(fake_registry, caplog):
    fake_registry.add("org/loop", ["a", "b", "c"], page_size=2, next_link="/v2/org/loop/tags/list")
    assert list_tags(fake_registry, "org/loop") == ["a", "b"]
    assert len(fake_registry.seen("org/loop")) == 1
    assert "link back to a page already read" in caplog.text


def test_stops_when_pages_repeat_under_new_links(fake_registry, caplog):
    # A registry that ignores `last` answers the same page for every link: stop, don't spin.
    repository = fake_registry.add("org/stuck", [f"t{i}" for i in range(5)], page_size=2)
    repository.next_link = "/v2/org/stuck/tags/list?n=2&page=2"
    assert list_tags(fake_registry, "org/stuck") == ["t0", "t1"]
    assert len(fake_registry.seen("org/stuck")) == 2
    assert "added nothing new" in caplog.text


def test_page_cap_is_an_error_not_a_silently_short_list(fake_registry):
    fake_registry.add("org/huge", [f"{i:04d}" for i in range(500)], page_size=100)
    with pytest.raises(InvalidResponse, match="more than 3 pages of tags; stopped"):
        list_tags(fake_registry, "org/huge", max_pages=3)
    assert len(fake_registry.seen("org/huge")) == 3


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        (Fault("error500"), RegistryUnavailable, "the registry answered 500 after 1 retries: UNKNOWN internal "
                                                 "server error — it is failing; try again later"),
        (Fault("reset"), RegistryUnavailable, "the connection to 127.0.0.1:.* failed .* the registry or the "
                                              "network is failing \\(after 1 retries\\)"),
        (Fault("malformed_json"), InvalidResponse, "malformed JSON for the tag list"),
        (Fault("hang"), RegistryUnavailable, "no answer from 127.0.0.1:.* within 0.6s \\(spec.timeout\\)"),
        (Fault("slow", delay=2.0), RegistryUnavailable, "within 0.6s"),
    ],
    ids=["500", "reset", "malformed-json", "never-answers", "slow"],
)
def test_a_failing_repository_gets_a_clear_error_while_the_others_scan(fake_registry, fault, error, message):
    fake_registry.add("team/broken", ["1.0"], fault=fault)
    fake_registry.add("team/fine-a", ["1.0", "1.1"])
    fake_registry.add("team/fine-b", ["2.0"])

    async def scan():
        async with RegistryClient(retries=1, backoff=FAST) as client:
            return await scan_all(client, fake_registry, ["team/broken", "team/fine-a", "team/fine-b"],
                                  AccessOptions(insecure=True, timeout=0.6))

    started = time.monotonic()
    results = asyncio.run(scan())
    assert sorted(results["team/fine-a"]) == ["1.0", "1.1"]
    assert results["team/fine-b"] == ["2.0"]
    failure = results["team/broken"]
    assert isinstance(failure, error)
    assert str(failure).startswith(f"{fake_registry.host}/team/broken: ")
    assert failure.repository == f"{fake_registry.host}/team/broken"
    assert re.search(message, str(failure)), str(failure)
    assert time.monotonic() - started < 3


def test_requests_per_host_are_limited(fake_registry):
    names = [f"team/slow{i}" for i in range(6)]
    for name in names:
        fake_registry.add(name, ["1.0"], fault=Fault("slow", delay=0.15))

    async def scan():
        async with RegistryClient(concurrency_per_host=2) as client:
            return await scan_all(client, fake_registry, names)

    assert all(tags == ["1.0"] for tags in asyncio.run(scan()).values())
    assert fake_registry.max_in_flight == 2


def test_transient_500s_are_retried(fake_registry):
    fake_registry.add("team/flaky", ["1.0"], fault=Fault("error500", times=2))
    assert list_tags(fake_registry, "team/flaky", retries=2) == ["1.0"]
    assert len(fake_registry.seen("team/flaky")) == 3


def test_429_retry_after_is_honoured(fake_registry):
    fake_registry.add("team/busy", ["1.0"], fault=Fault("rate_limit", retry_after="1", times=1))
    assert list_tags(fake_registry, "team/busy") == ["1.0"]
    first, second = fake_registry.seen("team/busy")
    assert second.at - first.at >= 0.95


def test_a_host_still_answering_429_is_skipped_for_the_rest_of_the_cycle(fake_registry, caplog):
    names = [f"team/app{i}" for i in range(12)]
    for name in names:
        fake_registry.add(name, ["1.0"])
    fake_registry.host_fault = Fault("rate_limit", retry_after="1")
    other = FakeRegistry().start()
    other.add("elsewhere/app", ["9.9"])
    caplog.set_level(logging.WARNING, logger="imagebot.registry")

    async def scan():
        async with RegistryClient(retries=2, concurrency_per_host=4, backoff=FAST) as client:
            results = await scan_all(client, fake_registry, names)
            sent = len(fake_registry.seen())
            later = await scan_all(client, fake_registry, ["team/app0", "team/app11"])
            elsewhere = await client.list_tags(ref(other, "elsewhere/app"), PLAIN)
            return results, sent, later, elsewhere, client.stats

    try:
        started = time.monotonic()
        results, sent, later, elsewhere, stats = asyncio.run(scan())
        elapsed = time.monotonic() - started
    finally:
        other.close()

    errors = list(results.values()) + list(later.values())
    assert all(isinstance(e, RateLimited) for e in errors)
    message = f"registry {fake_registry.host} is rate limiting requests (429, after 2 retries)"
    assert all(message in str(e) and "skipped for the rest of this scan cycle" in str(e) for e in errors)
    # Requests in flight when the first 429 came (4), then one probe at a time for the 2 retries:
    # not one request per repository, and none at all once the host is skipped.
    assert sent <= 4 + 2
    assert len(fake_registry.seen()) == sent
    seen = fake_registry.seen()
    assert seen[-1].at - seen[-2].at >= 0.95 and elapsed >= 2  # Retry-After: 1 between probes
    assert [r.getMessage() for r in caplog.records].count(message + "; it is skipped for the rest of this "
                                                         "scan cycle — scan less often, or use credentials "
                                                         "with a higher rate limit") == 1
    assert elsewhere == ["9.9"]
    assert stats.rate_limited == sent


def test_a_long_retry_after_skips_the_host_at_once(fake_registry):
    fake_registry.add("team/app", ["1.0"], fault=Fault("rate_limit", retry_after="3600"))
    started = time.monotonic()
    with pytest.raises(RateLimited, match=r"asks to wait 3600s \(Retry-After\)"):
        list_tags(fake_registry, "team/app")
    assert time.monotonic() - started < 1
    assert len(fake_registry.seen()) == 1


def test_connection_refused_is_reported_after_retries(fake_registry):
    fake_registry.add("team/app", ["1.0"])
    fake_registry.close()
    with pytest.raises(RegistryUnavailable, match=r"cannot connect to 127\.0\.0\.1:\d+ .* check the host name, "
                                                  r"port and network \(after 2 retries\)"):
        list_tags(fake_registry, "team/app", retries=2)


def test_head_digest_on_a_paginating_registry(fake_registry):
    fake_registry.add("team/app", ["1.0", "2.0"])

    async def head():
        async with RegistryClient() as client:
            return await client.head_digest(ref(fake_registry, "team/app"), "2.0", PLAIN)

    assert asyncio.run(head()) == FakeRegistry.digest_of("team/app", "2.0")
    assert fake_registry.seen()[-1].method == "HEAD"

