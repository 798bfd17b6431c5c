"""Forge API answers are bounded and retried with the one backoff: an endless answer is cut at the
limit, a GET that met a 503 is retried, a POST that met a 502 is not (it may have acted), a 429 is."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from imagebot.delivery.forges._http import ForgeClient, ForgeError
from imagebot.retry import Backoff
from tests.support.hostileregistry import Answer, HostileRegistry, hostile_registry  # noqa: F401

TOKEN = "forge-t0ken-9f9f9f9f9f"


def call(base: str, method: str, body: Any = None) -> Any:
    async def go() -> Any:
        client = ForgeClient(forge="GitHub", api_url=base, repository="acme/app", token=TOKEN,
                             headers={"Authorization": f"token {TOKEN}"})
        client.backoff = Backoff(initial=0.01, maximum=0.05)
        async with client:
            return await client.call(method, "/pulls", action="list pull requests", json=body)

    return asyncio.run(go())


def test_an_endless_answer_is_cut_at_the_limit(hostile_registry: HostileRegistry) -> None:  # noqa: F811
    base = hostile_registry.endpoint("endless", Answer(endless=True))
    with pytest.raises(ForgeError, match=r"larger than the limit of 8 MiB"):
        call(base, "GET")


def test_a_get_is_retried_after_a_503(hostile_registry: HostileRegistry) -> None:  # noqa: F811
    base = hostile_registry.endpoint("flaky", Answer(503, b"{}"), Answer(200, b'[{"number": 7}]'))
    assert call(base, "GET") == [{"number": 7}]
    assert len(hostile_registry.seen("flaky")) == 2


def test_a_post_is_not_repeated_after_a_502_but_is_after_a_429(hostile_registry: HostileRegistry) -> None:  # noqa: F811
    base = hostile_registry.endpoint("gateway", Answer(502, b'{"message": "bad gateway"}'), Answer(201, b"{}"))
    with pytest.raises(ForgeError) as caught:
        call(base, "POST", {"title": "x"})
    assert caught.value.status == 502 and len(hostile_registry.seen("gateway")) == 1

    base = hostile_registry.endpoint("busy", Answer(429, b"{}", {"Retry-After": "0"}), Answer(201, b'{"number": 8}'))
    assert call(base, "POST", {"title": "x"}) == {"number": 8}
    assert len(hostile_registry.seen("busy")) == 2


def test_an_error_echoing_the_token_is_redacted(hostile_registry: HostileRegistry) -> None:  # noqa: F811
    base = hostile_registry.endpoint("echo", Answer(403, f'{{"message": "token {TOKEN} lacks scope"}}'.encode()))
    with pytest.raises(ForgeError) as caught:
        call(base, "GET")
    assert TOKEN not in str(caught.value) and "HTTP 403" in str(caught.value)


NEW_FORGES = [
    ("forgejo", "https://codeberg.org/acme/app.git", "Forgejo"),
    ("bitbucket", "https://bitbucket.org/acme/app.git", "Bitbucket"),
    ("bitbucketserver", "https://git.corp.example/scm/ACME/app.git", "Bitbucket Server"),
    ("azuredevops", "https://dev.azure.com/acme/Platform/_git/app", "Azure DevOps"),
]
PASSWORD = "app-pa55word-e7e7e7e7"


def upsert(base: str, provider: str, repository_url: str, token: str = TOKEN) -> Any:
    from imagebot.delivery.forges import PullRequestRequest, forge_for

    forge = forge_for(provider, repository_url=repository_url, api_url=base, token=token)  # type: ignore[arg-type]
    return asyncio.run(forge.upsert_pull_request(PullRequestRequest(head="imagebot", base="main", title="t",
                                                                    body="b")))


@pytest.mark.parametrize(("provider", "repository_url", "forge"), NEW_FORGES)
def test_every_new_forge_cuts_an_endless_answer(hostile_registry: HostileRegistry, provider: str,  # noqa: F811
                                                repository_url: str, forge: str) -> None:
    base = hostile_registry.endpoint(f"endless-{provider}", Answer(endless=True))
    with pytest.raises(ForgeError, match=rf"^{forge}: could not list open pull requests.*larger than the limit"):
        upsert(base, provider, repository_url)


@pytest.mark.parametrize(("provider", "repository_url", "forge"), NEW_FORGES)
def test_every_new_forge_retries_a_503_and_hides_an_echoed_password(
        hostile_registry: HostileRegistry, provider: str, repository_url: str, forge: str) -> None:  # noqa: F811
    echo = f'{{"message": "user bot:{PASSWORD} may not", "error": {{"message": "{PASSWORD}"}}}}'.encode()
    base = hostile_registry.endpoint(f"echo-{provider}", Answer(503, b"{}", {"Retry-After": "0"}), Answer(403, echo))
    with pytest.raises(ForgeError) as caught:
        upsert(base, provider, repository_url, token=f"bot:{PASSWORD}")
    assert str(caught.value).startswith(f"{forge}: ") and "HTTP 403" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert len(hostile_registry.seen(f"echo-{provider}")) == 2  # the GET met a 503 and was sent again

