"""GitHub Apps: installation tokens for git over HTTPS and the pull request API, as Flux does it.

A GitRepository with `spec.provider: github` names a secret with Flux's keys (fluxcd/pkg
git/github/client.go): `githubAppID`, one of `githubAppInstallationID` or
`githubAppInstallationOwner` (the installation is then found as the owner's organisation, else as
the user's), `githubAppPrivateKey` (PEM) and optional `githubAppBaseURL` (the API base of GitHub
Enterprise Server, e.g. https://github.example.com/api/v3). The app's JWT (RS256, PyJWT) is
exchanged at POST /app/installations/{id}/access_tokens for a token git uses as the password of
`x-access-token` and the pull request API as a bearer token.

Tokens live one hour; each is cached per app and installation and renewed RENEW_BEFORE ahead of
its expiry, so a token never runs out during a clone, a push or a pull request call.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from imagebot import redact
from imagebot.config.secrets import SecretStore
from imagebot.httpbody import BodyTooLarge, BodyTooSlow, read_capped

if TYPE_CHECKING:
    from imagebot.proxy import Proxy

KEY_APP_ID = "githubAppID"
KEY_INSTALLATION_ID = "githubAppInstallationID"
KEY_INSTALLATION_OWNER = "githubAppInstallationOwner"
KEY_PRIVATE_KEY = "githubAppPrivateKey"
KEY_BASE_URL = "githubAppBaseURL"
ACCESS_TOKEN_USERNAME = "x-access-token"  # GitHub's user name for installation tokens over HTTPS
DEFAULT_API_URL = "https://api.github.com"

RENEW_BEFORE = 300.0  # seconds: a token with less than 5 minutes left is replaced before use
_JWT_BACKDATE = 30  # seconds: iat in the past, for a GitHub clock slightly behind ours (as Flux)
_JWT_LIFETIME = 120  # seconds: the JWT is used once, at once; GitHub allows at most 10 minutes
_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_MAX_ANSWER = 256 * 1024  # a token answer is about 1 KiB; an installation a few KiB
_ANSWER_SECONDS = 60.0  # for a whole answer: a server trickling bytes cannot hold a cycle


class GitHubAppError(Exception):
    """The app's secret is incomplete or GitHub refused the app; the message names secret and key."""


@dataclass(frozen=True)
class GitHubApp:
    """One app installation, read from a secret with Flux's keys."""

    secret: str
    app_id: int
    private_key: bytes = field(repr=False)
    installation_id: int | None = None
    installation_owner: str | None = None
    api_url: str = DEFAULT_API_URL

    @classmethod
    def from_secret(cls, secrets: SecretStore, name: str) -> GitHubApp:
        def text(key: str) -> str | None:
            return secrets.read_text(name, key).strip() if secrets.has(name, key) else None

        app_id = text(KEY_APP_ID)
        if not app_id:
            raise GitHubAppError(f"secret '{name}' has no key '{KEY_APP_ID}' (the GitHub App's numeric ID), "
                                 "needed for spec.provider: github")
        installation, owner = text(KEY_INSTALLATION_ID), text(KEY_INSTALLATION_OWNER)
        if bool(installation) == bool(owner):
            raise GitHubAppError(f"secret '{name}' must have exactly one of the keys '{KEY_INSTALLATION_ID}' "
                                 f"and '{KEY_INSTALLATION_OWNER}' ({'both are' if owner else 'neither is'} set)")
        if not secrets.has(name, KEY_PRIVATE_KEY):
            raise GitHubAppError(f"secret '{name}' has no key '{KEY_PRIVATE_KEY}' (the app's PEM private key)")
        key = secrets.read(name, KEY_PRIVATE_KEY)
        redact.register_secrets([key.decode("utf-8", "replace"), *_pem_lines(key)])
        return cls(secret=name, app_id=_number(app_id, name, KEY_APP_ID), private_key=key,
                   installation_id=_number(installation, name, KEY_INSTALLATION_ID) if installation else None,
                   installation_owner=owner, api_url=(text(KEY_BASE_URL) or DEFAULT_API_URL).rstrip("/"))

    @property
    def cache_key(self) -> str:
        material = "\0".join((str(self.app_id), str(self.installation_id), self.installation_owner or "",
                              self.api_url, self.private_key.decode("utf-8", "replace")))
        return hashlib.sha256(material.encode()).hexdigest()

    def jwt(self, now: float | None = None) -> str:
        """The app's JSON Web Token: RS256 over iss (the app ID), iat and exp, signed by PyJWT."""
        import jwt  # PyJWT with cryptography: imported when an app is used, not at start-up

        issued = int(now if now is not None else time.time()) - _JWT_BACKDATE
        try:
            token = jwt.encode({"iat": issued, "exp": issued + _JWT_LIFETIME, "iss": str(self.app_id)},
                               self.private_key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise GitHubAppError(f"secret '{self.secret}' key '{KEY_PRIVATE_KEY}' is not an RSA private key in "
                                 f"PEM form ({type(exc).__name__}): download a new key from the app's settings"
                                 ) from None
        redact.register_secrets([token])
        return token


@dataclass
class _Token:
    value: str
    expires_at: float  # time.time()


class InstallationTokens:
    """Installation tokens per app installation, shared by git and the pull request API; thread-safe
    (git runs in worker threads), one exchange at a time per installation."""

    def __init__(self) -> None:
        self._tokens: dict[str, _Token] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.exchanges = 0  # tokens fetched from GitHub, for the log and the tests

    def token(self, app: GitHubApp, *, ca_file: Path | None = None, proxy: Proxy | None = None) -> str:
        """A token with at least RENEW_BEFORE seconds left, fetched from GitHub when needed (through
        `proxy`, the GitRepository's proxySecretRef, when there is one: the exchange goes the way git goes)."""
        with self._guard:
            lock = self._locks.setdefault(app.cache_key, threading.Lock())
        with lock:
            cached = self._tokens.get(app.cache_key)
            if cached is not None and cached.expires_at - RENEW_BEFORE > time.time():
                return cached.value
            fresh = _exchange(app, ca_file, proxy)
            self.exchanges += 1
            self._tokens[app.cache_key] = fresh
            return fresh.value

    def refused(self, token: str) -> None:
        """GitHub refused this token (revoked, or the app's installation changed): drop it, so the
        next use exchanges the JWT for a new one instead of waiting for the expiry."""
        with self._guard:
            for key, cached in list(self._tokens.items()):
                if cached.value == token:
                    del self._tokens[key]


TOKENS = InstallationTokens()  # the process's cache: a service reuses tokens across cycles


def _exchange(app: GitHubApp, ca_file: Path | None, proxy: Proxy | None) -> _Token:
    import ssl

    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
               "Authorization": f"Bearer {app.jwt()}", "User-Agent": "imagebot"}
    with httpx.Client(base_url=app.api_url, headers=headers, verify=verify, timeout=_TIMEOUT,
                      proxy=proxy.for_httpx() if proxy else None) as client:
        installation = app.installation_id or _find_installation(client, app)
        answer = _call(client, app, "POST", f"/app/installations/{installation}/access_tokens",
                       f"get a token for installation {installation}")
    token, expires = answer.get("token"), answer.get("expires_at")
    if not isinstance(token, str) or not token or not isinstance(expires, str):
        raise GitHubAppError(f"GitHub App {app.app_id}: {app.api_url} answered the token request without a "
                             "token and its expiry")
    redact.register_secrets([token])
    try:
        expires_at = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise GitHubAppError(f"GitHub App {app.app_id}: the token's expires_at {expires[:40]!r} is not a "
                             "time") from None
    return _Token(token, expires_at)


class _NotInstalled(GitHubAppError):
    pass


def _find_installation(client: httpx.Client, app: GitHubApp) -> int:
    """The installation on the owner's organisation, else on the user of that name (Flux's order)."""
    owner = app.installation_owner or ""
    for path in (f"/orgs/{owner}/installation", f"/users/{owner}/installation"):
        try:
            found = _call(client, app, "GET", path, f"find the installation of {owner}")
        except _NotInstalled:
            continue
        if isinstance(found.get("id"), int):
            return found["id"]
    raise GitHubAppError(f"GitHub App {app.app_id} is not installed on the organisation or user {owner!r} "
                         f"(secret '{app.secret}' key '{KEY_INSTALLATION_OWNER}'): install it there, or give "
                         f"'{KEY_INSTALLATION_ID}' instead")


def _call(client: httpx.Client, app: GitHubApp, method: str, path: str, action: str) -> dict[str, Any]:
    try:
        deadline = time.monotonic() + _ANSWER_SECONDS
        with client.stream(method, path) as response:
            body = read_capped(response, _MAX_ANSWER, deadline)
    except BodyTooLarge:
        raise GitHubAppError(f"GitHub App {app.app_id}: the answer to {method} {path} is larger "
                             f"than {_MAX_ANSWER // 1024} KiB, the limit") from None
    except BodyTooSlow:
        raise GitHubAppError(f"GitHub App {app.app_id}: the answer to {method} {path} took longer "
                             f"than {_ANSWER_SECONDS:g}s, the limit") from None
    except httpx.HTTPError as exc:
        raise GitHubAppError(redact.scrub(f"GitHub App {app.app_id}: could not {action}: {type(exc).__name__} "
                                          f"talking to {app.api_url}: check '{KEY_BASE_URL}' and that the host is "
                                          "reachable")) from None
    status = response.status_code
    if status == 404 and path.endswith("/installation"):
        raise _NotInstalled(path)
    if status == 401:
        raise GitHubAppError(f"GitHub App {app.app_id}: GitHub refused the app's JWT (401) when trying to "
                             f"{action}: check that secret '{app.secret}' key '{KEY_PRIVATE_KEY}' is a current "
                             f"private key of app {app.app_id} (key '{KEY_APP_ID}')")
    if not 200 <= status < 300:
        detail = redact.excerpt(body, 200)
        hint = f" — check key '{KEY_INSTALLATION_ID}' in secret '{app.secret}'" if status == 404 else ""
        raise GitHubAppError(f"GitHub App {app.app_id}: could not {action} (HTTP {status}): {detail}{hint}")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        raise GitHubAppError(f"GitHub App {app.app_id}: the answer to {method} {path} is not a JSON object")
    return document


def _number(value: str, secret: str, key: str) -> int:
    if not value.isdigit():
        raise GitHubAppError(f"secret '{secret}' key '{key}' must be a number, not {value[:40]!r}")
    return int(value)


def _pem_lines(key: bytes) -> list[str]:
    """The base64 lines of a PEM: a fragment of the key in a message must be hidden too."""
    return [line.strip() for line in key.decode("utf-8", "replace").splitlines()
            if len(line.strip()) >= 16 and not line.startswith("-----")]
