"""A forge that echoes the credentials it was sent: Basic auth carries a Bitbucket `user:password`
or an Azure DevOps `:PAT` base64-encoded, and that form is hidden from the error as the plain one is."""

from __future__ import annotations

import asyncio
import base64

import pytest

from imagebot.delivery.forges import ForgeError, PullRequestRequest, forge_for
from tests.support.hostileregistry import Answer, HostileRegistry, hostile_registry  # noqa: F401


def upsert(base: str, provider: str, repository_url: str, token: str) -> None:
    forge = forge_for(provider, repository_url=repository_url, api_url=base, token=token)  # type: ignore[arg-type]
    asyncio.run(forge.upsert_pull_request(PullRequestRequest(head="imagebot", base="main", title="t", body="b")))


@pytest.mark.parametrize(("provider", "repository_url", "user"), [
    ("azuredevops", "https://dev.azure.com/acme/Platform/_git/app", ""),
    ("bitbucket", "https://bitbucket.org/acme/app.git", "bot"),
    ("bitbucketserver", "https://git.corp.example/scm/ACME/app.git", "bot"),
])
def test_an_echoed_basic_auth_header_is_hidden(hostile_registry: HostileRegistry, provider: str,  # noqa: F811
                                               repository_url: str, user: str) -> None:
    secret = "echo-5ecret-5a5a5a5a5a5a"
    token = f"{user}:{secret}" if user else secret
    header = base64.b64encode(f"{user}:{secret}".encode()).decode()
    body = f'{{"message": "refused Authorization: Basic {header} ({secret})"}}'.encode()
    base = hostile_registry.endpoint(f"echo-basic-{provider}", Answer(403, body))
    with pytest.raises(ForgeError) as caught:
        upsert(base, provider, repository_url, token)
    shown = str(caught.value)
    assert "HTTP 403" in shown and "refused Authorization: Basic" in shown
    assert header.rstrip("=") not in shown and secret not in shown
    [(_, _, headers)] = hostile_registry.seen(f"echo-basic-{provider}")
    assert {k.lower(): v for k, v in headers.items()}["authorization"] == f"Basic {header}"
