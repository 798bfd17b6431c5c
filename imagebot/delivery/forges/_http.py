"""HTTP plumbing shared by the forge clients: one short-lived httpx client per call, errors mapped
to messages that say what failed and what to do, and the token kept out of every message."""

from __future__ import annotations

import asyncio
import json as _json
import logging
import ssl
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from imagebot import redact
from imagebot.httpbody import BodyLimit, ResponseLimitError
from imagebot.retry import RETRYABLE_STATUS, Attempts, Backoff, parse_retry_after

if TYPE_CHECKING:
    from imagebot.delivery.forges._repo_url import RepositoryLocation
    from imagebot.proxy import Proxy

logger = logging.getLogger("imagebot.forges")

_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_CALL_BUDGET = 90.0  # seconds for one call, its retries included
_MAX_ANSWER = 8 * 1024 * 1024  # a pull request or a page of them is a few KiB
_RETRIES = 3
# Sent twice these change nothing: a 5xx or a dropped connection is retried. A POST is retried only
# when the forge said it did not act (429) or the connection never opened.
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})


class ForgeError(Exception):
    """A forge call failed; the message names the forge, the action and what to do about it."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# What each forge needs from a token, for the 403 message.
_SCOPES = {
    "GitHub": "a classic token with the `repo` scope, or a fine-grained token with "
    "'Pull requests: write' and 'Issues: write' on this repository",
    "GitLab": "the `api` scope and at least the Developer role in the project",
    "Gitea": "the `write:repository` and `write:issue` scopes and write access to the repository",
    "Forgejo": "the `write:repository` and `write:issue` scopes and write access to the repository",
    "Bitbucket": "the `pullrequest:write` scope (an app password or access token with 'Pull requests: Write')",
    "Bitbucket Server": "an HTTP access token (or user) with write permission on the repository",
    "Azure DevOps": "a personal access token with the 'Code (Read & write)' scope (vso.code_write)",
}


class ForgeClient:
    """Sends JSON requests to one forge API and turns failures into ForgeError."""

    def __init__(
        self,
        *,
        forge: str,
        api_url: str,
        repository: str,
        token: str,
        headers: Mapping[str, str],
        ca_file: Path | None = None,
        proxy: Proxy | None = None,
    ) -> None:
        self.forge = forge
        self._proxy = proxy
        self.api_url = api_url.rstrip("/")
        self.repository = repository
        # A `user:password` token (Bitbucket's basic auth) is hidden whole and by its password alone.
        self._secrets = [token, *([token.split(":", 1)[1]] if ":" in token[1:-1] else [])]
        self._token = token
        self._headers = dict(headers)
        self._verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca_file)) if ca_file is not None else True
        )
        self._client: httpx.AsyncClient | None = None
        self.backoff = Backoff()
        # ... and in the base64 forms Basic auth carries it in (Bitbucket's user:password, Azure's :PAT).
        user, sep, password = token.partition(":")
        if sep and user and password:
            redact.register_credentials(user, password, tokens=[token])
        else:
            redact.register_credentials("", token, tokens=[token])

    async def __aenter__(self) -> ForgeClient:
        limit = BodyLimit(_MAX_ANSWER, seconds=_TIMEOUT.read)
        self._client = httpx.AsyncClient(
            base_url=self.api_url, headers=self._headers, verify=self._verify, timeout=_TIMEOUT,
            proxy=self._proxy.for_httpx() if self._proxy else None,
            event_hooks=limit.hooks(),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        action: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Send one request (retrying what is safe to retry); return the decoded JSON body (None when empty)."""
        assert self._client is not None, "use ForgeClient as an async context manager"
        attempts = Attempts(self.backoff, _RETRIES, deadline=time.monotonic() + _CALL_BUDGET)
        while True:
            try:
                response = await self._client.request(method, path, params=params, json=json)
            except ResponseLimitError as exc:
                raise ForgeError(self._scrub(f"{self.forge}: could not {action}: {exc}")) from None
            except httpx.HTTPError as exc:
                retryable = method in _IDEMPOTENT or isinstance(exc, httpx.ConnectError)
                wait = attempts.next_wait() if retryable else None
                if wait is None:
                    raise self._transport_error(exc, action, attempts.stop_reason) from None
                logger.info("%s: %s failed (%s); retry in %.1fs", self.forge, action, type(exc).__name__, wait)
                await asyncio.sleep(wait)
                continue
            status = response.status_code
            if status in RETRYABLE_STATUS and (method in _IDEMPOTENT or status == 429):
                wait = attempts.next_wait(parse_retry_after(response.headers.get("Retry-After")))
                if wait is not None:
                    logger.info("%s: %s answered %d; retry in %.1fs", self.forge, action, status, wait)
                    await asyncio.sleep(wait)
                    continue
            break
        if response.is_success:
            try:
                return response.json() if response.content else None
            except (ValueError, RecursionError):
                raise ForgeError(self._scrub(f"{self.forge}: could not {action}: the answer is not JSON: "
                                             f"{redact.excerpt(response.content, 120)}")) from None
        raise self._error(response, action)

    def _transport_error(self, exc: httpx.HTTPError, action: str, retried: str) -> ForgeError:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            hint = "its TLS certificate is not trusted; give the CA certificate that signed it (ca_file)."
        elif isinstance(exc, httpx.ProxyError) and str(exc).startswith("407"):
            hint = (self._proxy.refused(self.api_url) if self._proxy
                    else "the proxy (from HTTPS_PROXY) refused the request: 407 Proxy Authentication Required")
        else:
            hint = "check the pull request `url` (API base) and that the host is reachable."
        retried = f" ({retried})" if retried else ""
        return ForgeError(self._scrub(f"{self.forge}: could not {action}: {type(exc).__name__} talking to "
                                      f"{self.api_url}{retried}: {hint}"))

    def _error(self, response: httpx.Response, action: str) -> ForgeError:
        status = response.status_code
        detail = _message(response)
        what = f"{self.forge}: could not {action} in {self.repository} (HTTP {status})"
        if status == 401:
            hint = (
                "the token was rejected: it is invalid, expired or revoked. "
                "Put a valid token in the secret's `token` key."
            )
        elif status == 403:
            hint = f"the token lacks the permission for this. It needs {_SCOPES.get(self.forge, 'write access')}."
            if detail:
                hint += f" The forge said: {detail}"
        elif status == 404:
            hint = (
                f"repository {self.repository} not found at {self.api_url}, or the token has no access to it. "
                "Check the GitRepository URL, the pull request `url` and the token's access."
            )
        elif status in (400, 409, 422):
            hint = f"the forge refused the request: {detail or response.reason_phrase}"
        else:
            hint = f"{detail or response.reason_phrase}"
        return ForgeError(self._scrub(f"{what}: {hint}"), status=status)

    def _scrub(self, text: str) -> str:
        return redact.scrub(text, self._secrets)


class ForgeBase:
    """What every forge client holds; a subclass names itself and the headers that carry the token."""

    name = "forge"
    proxy: Proxy | None = None  # the GitRepository's proxySecretRef: the API goes the way git goes
    has_labels = True

    @staticmethod
    def check_reviewer(reviewer: str) -> None:
        """Raise ForgeError if `reviewer` is not in the form this forge takes reviewers in."""

    def __init__(self, location: RepositoryLocation, *, api_url: str, token: str, ca_file: Path | None) -> None:
        self.location = location
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._ca_file = ca_file

    def _headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _client(self) -> ForgeClient:
        return ForgeClient(forge=self.name, api_url=self.api_url, repository=self.location.path, token=self._token,
                           headers={**self._headers(), "User-Agent": "imagebot"}, ca_file=self._ca_file,
                           proxy=self.proxy)


async def open_or_update_pull(
    client: ForgeClient, repo: str, existing: Mapping[str, Any] | None, *, head: str, base: str, title: str,
    body: str,
) -> tuple[dict[str, Any], int]:
    """PATCH the open pull request, or POST a new one: GitHub's pulls API, which Gitea mirrors."""
    if existing is not None:
        number = int(existing["number"])
        pr = await client.call("PATCH", f"{repo}/pulls/{number}", action=f"update pull request #{number}",
                               json={"title": title, "body": body})
        return pr, number
    pr = await client.call("POST", f"{repo}/pulls", action=f"open a pull request from {head} into {base}",
                           json={"title": title, "head": head, "base": base, "body": body})
    return pr, int(pr["number"])


async def request_reviewers(client: ForgeClient, repo: str, number: int, reviewers: Sequence[str]) -> None:
    """Ask users and teams (`org/team` or `@org/team`) to review, as GitHub's API (and Gitea's) takes them."""
    users: list[str] = []
    teams: list[str] = []
    for reviewer in reviewers:
        name = reviewer.removeprefix("@")
        if "/" in name:
            teams.append(name.split("/", 1)[1])
        else:
            users.append(name)
    if not users and not teams:
        return
    payload: dict[str, list[str]] = {}
    if users:
        payload["reviewers"] = users
    if teams:
        payload["team_reviewers"] = teams
    await client.call("POST", f"{repo}/pulls/{number}/requested_reviewers",
                      action=f"request reviewers on pull request #{number}", json=payload)


def _message(response: httpx.Response) -> str:
    """The forge's own explanation, from the JSON error body the three forges send."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return redact.excerpt(response.content, 300)
    if not isinstance(body, dict):
        return redact.excerpt(_json.dumps(body)[:1000], 300)
    parts: list[str] = []
    for key in ("message", "error", "errors"):
        value = body.get(key)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts.extend(_error_item(item) for item in value)
        elif isinstance(value, dict):
            parts.extend(f"{k}: {v}" for k, v in value.items())
    return redact.excerpt("; ".join(p for p in parts if p), 500)


def _error_item(item: Any) -> str:
    if isinstance(item, dict):
        if "message" in item:
            return str(item["message"])
        return ", ".join(f"{k}={v}" for k, v in item.items())
    return str(item)
