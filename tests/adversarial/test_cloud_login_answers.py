"""Hostile token endpoints: a GitHub that answers the installation token request with megabytes,
or with a token JSON that is no object; an ACR exchange that answers megabytes. Each is refused
naming the limit, and nothing of the answer reaches the message unscrubbed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from imagebot.delivery.githubapp import GitHubApp, GitHubAppError, InstallationTokens
from imagebot.registry.cloud import Reach
from imagebot.registry.cloud.azure import _exchange
from imagebot.registry.credentials import CredentialLookupError
from tests.forges.test_github_app import APP_ID, PRIVATE, write_secret
from tests.support.clouds import json_server


def _app(tmp_path: Path, url: str) -> GitHubApp:
    secrets = write_secret(tmp_path, "app", {"githubAppID": str(APP_ID), "githubAppInstallationID": "1",
                                             "githubAppPrivateKey": PRIVATE, "githubAppBaseURL": url})
    return GitHubApp.from_secret(secrets, "app")


def test_a_huge_token_answer_is_refused(tmp_path: Path) -> None:
    def handle(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 201, {"token": "x" * (1024 * 1024), "expires_at": "2099-01-01T00:00:00Z"}

    with json_server(handle) as url, pytest.raises(GitHubAppError, match="larger than 256 KiB, the limit"):
        InstallationTokens().token(_app(tmp_path, url))


@pytest.mark.parametrize("answer", [[1, 2], {"token": 5, "expires_at": "x"}, {"token": "t", "expires_at": "soon"}])
def test_a_malformed_token_answer_is_refused(tmp_path: Path, answer: Any) -> None:
    with json_server(lambda *_: (201, answer)) as url, pytest.raises(GitHubAppError, match="GitHub App 424242"):
        InstallationTokens().token(_app(tmp_path, url))


def test_a_huge_acr_exchange_answer_is_refused() -> None:
    def handle(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        return 200, {"refresh_token": "r" * (1024 * 1024)}

    started = time.monotonic()
    with json_server(handle) as url, pytest.raises(CredentialLookupError, match="more than 256 KiB, the limit"):
        _exchange(url.removeprefix("http://"), "entra-token-0001", Reach(insecure=True))
    assert time.monotonic() - started < 10
