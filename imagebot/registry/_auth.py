"""Registry authentication as an httpx.Auth: the bearer-token challenge flow, and Basic.

Send the request; on a 401, read `WWW-Authenticate`; for Bearer get a token for the challenge's
realm, service and scope (anonymously or with credentials) and send again; for Basic send again
with the credentials. The challenge seen on a host is remembered, so later requests to that host
carry a cached token (or Basic) from the start and skip the 401 round trip.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass

import httpx

from imagebot.registry._errors import AuthError
from imagebot.registry.credentials import Credentials

DEFAULT_TOKEN_LIFETIME = 60.0  # seconds; the token spec's default when `expires_in` is absent
_EXPIRY_MARGIN = 5.0  # renew a little early so a token doesn't expire in flight
_PARAM = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')


@dataclass(frozen=True)
class Challenge:
    """A parsed `WWW-Authenticate` header: scheme ("bearer" or "basic") and its parameters."""

    scheme: str
    realm: str = ""
    service: str | None = None
    scope: str | None = None
    error: str | None = None


def parse_challenge(header: str | None) -> Challenge | None:
    """The first challenge of a `WWW-Authenticate` header, or None if there is none we understand."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "basic"):
        return None
    params: dict[str, str] = {}
    for key, raw in _PARAM.findall(rest):
        value = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\") if raw.startswith('"') else raw
        params.setdefault(key.lower(), value)
    return Challenge(scheme, params.get("realm", ""), params.get("service"), params.get("scope"),
                     params.get("error"))


def basic_header(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(pair).decode()


TokenFetcher = Callable[[Challenge, str, "Credentials | None"], Awaitable[tuple[str, float]]]
"""Fetches (token, lifetime in seconds) for a challenge, a scope and optional credentials."""


@dataclass
class _CachedToken:
    value: str
    expires_at: float


class TokenCache:
    """Tokens per (realm, service, scope, credentials) until they expire, and the challenge per host."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str, str], _CachedToken] = {}
        self._locks: dict[tuple[str, str, str, str], asyncio.Lock] = {}
        self.challenges: dict[str, Challenge] = {}

    async def token(self, challenge: Challenge, scope: str, credentials: Credentials | None,
                    fetch: TokenFetcher, *, fresh: bool = False) -> str:
        key = (challenge.realm, challenge.service or "", scope, _identity(credentials))
        # One fetch per key at a time: concurrent requests for one repository share the token.
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._tokens.get(key)
            if cached and not fresh and cached.expires_at > time.monotonic():
                return cached.value
            value, lifetime = await fetch(challenge, scope, credentials)
            self._tokens[key] = _CachedToken(value, time.monotonic() + max(0.0, lifetime - _EXPIRY_MARGIN))
            return value


class RegistryAuth(httpx.Auth):
    """Authenticates requests to one registry host for one repository scope."""

    def __init__(self, host: str, scope: str, credentials: Credentials | None, tokens: TokenCache,
                 fetch: TokenFetcher) -> None:
        self._host = host
        self._scope = scope
        self._credentials = credentials
        self._tokens = tokens
        self._fetch = fetch
        self._renewed = False  # cloud credentials are renewed once per request at most

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("RegistryAuth fetches tokens asynchronously; use it with httpx.AsyncClient")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        known = self._tokens.challenges.get(self._host)
        preemptive = known is not None and await self._authorize_renewing(request, known, fresh=False)
        response = yield request
        if response.status_code != 401:
            return
        challenge = parse_challenge(response.headers.get("WWW-Authenticate"))
        if challenge is None:
            return
        self._tokens.challenges[self._host] = Challenge(challenge.scheme, challenge.realm, challenge.service)
        # A cached token the registry refused (revoked, or a different scope) earns one fresh fetch;
        # a request that already carried fresh credentials is not repeated.
        if not (preemptive and challenge.scheme == "basic"):
            if not await self._authorize_renewing(request, challenge, fresh=preemptive):
                return
            response = yield request
            if response.status_code != 401:
                return
        # Cloud credentials the registry refused (expired early, or revoked): one new login, one retry.
        renew = self._renew()
        if renew is not None:
            self._credentials = await renew()
            self._renewed = True
            if await self._authorize(request, challenge, fresh=True):
                yield request

    def _renew(self) -> Callable[[], Awaitable[Credentials]] | None:
        return self._credentials.renew if self._credentials is not None and not self._renewed else None

    async def _authorize_renewing(self, request: httpx.Request, challenge: Challenge, *, fresh: bool) -> bool:
        """_authorize, and for cloud credentials a token server refused: one new login, one more try."""
        try:
            return await self._authorize(request, challenge, fresh=fresh)
        except AuthError:
            renew = self._renew()
            if renew is None:
                raise
            self._credentials = await renew()
            self._renewed = True
            return await self._authorize(request, challenge, fresh=True)

    async def _authorize(self, request: httpx.Request, challenge: Challenge, *, fresh: bool) -> bool:
        if challenge.scheme == "basic":
            if self._credentials is None or self._credentials.identity_token:
                return False
            request.headers["Authorization"] = basic_header(self._credentials)
            return True
        scope = challenge.scope or self._scope
        token = await self._tokens.token(challenge, scope, self._credentials, self._fetch, fresh=fresh)
        request.headers["Authorization"] = f"Bearer {token}"
        return True


def _identity(credentials: Credentials | None) -> str:
    if credentials is None:
        return ""
    material = "\0".join((credentials.username, credentials.password, credentials.identity_token or ""))
    return hashlib.sha256(material.encode()).hexdigest()
