"""Storms, page-link loops, cross-host links, redirect loops and invalid digests: each ends in a
clear error, within spec.timeout, saying what the registry did (not "no answer")."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from imagebot.registry import (
    AccessOptions,
    ImageReference,
    InvalidResponse,
    RegistryClient,
    RegistryError,
    RegistryUnavailable,
)
from imagebot.retry import Backoff
from tests.support.hostileregistry import HostileRegistry, run_bounded, write_scan_config


def options(timeout: float) -> AccessOptions:
    return AccessOptions(insecure=True, timeout=timeout)


def test_a_500_storm_asking_for_a_day_ends_at_once_with_the_status(
        tmp_path: Path, hostile_registry: HostileRegistry) -> None:
    """Retry-After: 99999 used to make each retry wait 60s (241s for one repository) and then say
    "no answer ... check that the registry is up" though the registry had answered 500."""
    image = hostile_registry.add("team/storm", "storm_500")
    config = write_scan_config(tmp_path / "config", {"storm": image}, timeout="20s")

    result = run_bounded("scan", "-c", str(config), "--state-dir", str(tmp_path / "state"), "--output", "json",
                         timeout=90)

    assert result.returncode == 1, result.explain()
    assert result.seconds < 20, result.explain()
    [repository] = json.loads(result.stdout)["repositories"]
    message = repository["error"]
    assert "answered 500" in message and "99999s (Retry-After)" in message, message
    assert "no answer" not in message
    # It is not retried against its own wish: one request, not five.
    assert len([r for r in hostile_registry.requests if r[1].endswith("/tags/list")]) == 1


def test_the_retry_budget_never_outlasts_spec_timeout(hostile_registry: HostileRegistry) -> None:
    """A wait the client would honour (Retry-After within its maximum) but that would end past
    spec.timeout is not started: the last status is reported at once."""
    image = hostile_registry.add("team/storm", "storm_500")

    async def scan() -> Exception:
        async with RegistryClient(retries=50, backoff=Backoff(initial=0.01, maximum=10**6)) as client:
            try:
                await client.list_tags(ImageReference.parse(image), options(2.5))
            except Exception as err:
                return err
        raise AssertionError("the storm was not reported")

    started = time.monotonic()
    error = asyncio.run(scan())
    assert time.monotonic() - started < 2.5
    assert isinstance(error, RegistryUnavailable), error
    assert "answered 500" in str(error) and "no time left for another try" in str(error), error


def test_a_pagination_loop_cut_by_the_timeout_reports_the_loop(hostile_registry: HostileRegistry) -> None:
    image = hostile_registry.add("team/pages", "link_loop")

    async def scan() -> Exception:
        # Enough pages allowed that only the timeout can stop it.
        async with RegistryClient(max_pages=10**9) as client:
            try:
                await client.list_tags(ImageReference.parse(image), options(1.5))
            except Exception as err:
                return err
        raise AssertionError("an endless pagination was accepted")

    error = asyncio.run(scan())
    assert isinstance(error, RegistryUnavailable), error
    assert "still paging after" in str(error) and "page links may loop" in str(error), error
    assert "1.5s (spec.timeout)" in str(error)
    assert "no answer" not in str(error)


@pytest.mark.parametrize(("attack", "error"), [
    ("link_loop", "more than 50 pages of tags"),
    ("cross_host", "refusing to follow a tag-list page link to another host"),
    ("redirect_loop", "unexpected answer 307"),
])
def test_hostile_links_and_redirects_fail_clearly(hostile_registry: HostileRegistry, attack: str,
                                                   error: str) -> None:
    image = hostile_registry.add("team/links", attack)

    async def scan() -> Exception:
        async with RegistryClient(max_pages=50) as client:
            try:
                await client.list_tags(ImageReference.parse(image), options(30))
            except Exception as err:
                return err
        raise AssertionError("accepted")

    failure = asyncio.run(scan())
    assert isinstance(failure, InvalidResponse | RegistryError), repr(failure)
    assert error in str(failure), failure


def test_a_blob_redirect_loop_is_a_clear_error_not_a_traceback(hostile_registry: HostileRegistry) -> None:
    image = hostile_registry.add("team/loop", "redirect_loop")

    async def created() -> Exception:
        async with RegistryClient() as client:
            try:
                await client.created(ImageReference.parse(image), "1.0.0", options(30))
            except Exception as err:
                return err
        raise AssertionError("accepted")

    failure = asyncio.run(created())
    assert isinstance(failure, InvalidResponse), repr(failure)
    assert "redirected more than 20 times (a redirect loop)" in str(failure), failure


def test_an_invalid_digest_fails_its_policy(tmp_path: Path,
                                                            hostile_registry: HostileRegistry) -> None:
    image = hostile_registry.add("team/digest", "bad_digest")
    config = write_scan_config(tmp_path / "config", {"digest": image})
    text = (config / "imagebot.yaml").read_text().replace(
        '"policy": {', '"digestReflectionPolicy": "Always", "policy": {')
    (config / "imagebot.yaml").write_text(text)

    result = run_bounded("scan", "-c", str(config), "--state-dir", str(tmp_path / "state"), "--output", "json",
                         timeout=60)

    assert result.returncode == 1, result.explain()
    [policy] = json.loads(result.stdout)["policies"]
    assert policy["latest"] is None
    assert "invalid digest" in policy["error"], policy


def test_a_redirect_to_another_host_does_not_carry_the_credentials(hostile_registry: HostileRegistry) -> None:
    """Registries send blobs from a storage host (S3, a CDN): the registry's credentials stay behind."""
    storage = HostileRegistry(bind="127.0.0.2").start()
    try:
        storage.add("team/app")
        image = hostile_registry.add("team/app", "redirect_away", target=f"http://{storage.host}")

        async def created() -> object:
            async with RegistryClient() as client:
                options = AccessOptions(insecure=True, timeout=30, credentials_config=hostile_registry.docker_config())
                return await client.created(ImageReference.parse(image), "1.0.0", options)

        assert asyncio.run(created()) is not None  # the blob was read from the storage host
        blob_requests = [r for r in storage.requests if "/blobs/" in r[1]]
        assert blob_requests and all("Authorization" not in r[2] for r in blob_requests), blob_requests
        assert any(r[2].get("Authorization") for r in hostile_registry.requests if "/blobs/" in r[1])
    finally:
        storage.close()
