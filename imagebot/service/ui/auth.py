"""Who may press the status page's buttons: one operator token, server-side sessions, CSRF tokens.

The operator sets a token (`--ui-token-file`, or a secret). Logging in with it starts a session:
a random id in an HttpOnly, SameSite=Strict cookie, looked up in memory, so nothing is signed and
nothing a client holds means anything after a restart. Every POST carries the session's CSRF
token in its form (and the login form a pre-session token, as a double-submit cookie), and a
POST whose Origin (or Referer) names another site is refused whatever it carries.

Without a token the buttons are off: there is no way to log in.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

SESSION_COOKIE = "imagebot_session"
LOGIN_COOKIE = "imagebot_login"  # the login form's double-submit CSRF token
MIN_TOKEN_LENGTH = 16
LOGIN_FAILURES_PER_MINUTE = 10


class PageAccess(StrEnum):
    """`--ui-auth`: what needs a login. Actions always do."""

    ACTIONS = "actions"  # read-only pages and their JSON are open
    ALL = "all"  # every page and its JSON too


@dataclass(frozen=True)
class UiSettings:
    token: str | None = None  # None: actions are off
    access: PageAccess = PageAccess.ACTIONS
    session_seconds: float = 12 * 3600
    max_sessions: int = 256

    def __post_init__(self) -> None:
        if self.token is not None and len(self.token.strip()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"the status page's token must have at least {MIN_TOKEN_LENGTH} characters")
        if self.access is PageAccess.ALL and self.token is None:
            raise ValueError("--ui-auth all needs a token to log in with (--ui-token-file)")

    def __repr__(self) -> str:  # the token never reaches a log line
        return f"UiSettings(token={'set' if self.token else None}, access={self.access.value})"

    @property
    def actions_enabled(self) -> bool:
        return self.token is not None

    @property
    def pages_need_login(self) -> bool:
        return self.access is PageAccess.ALL


@dataclass(frozen=True)
class Session:
    id: str
    csrf: str
    expires: float


class TooManyAttempts(Exception):
    pass


class Sessions:
    """Live sessions in memory, the oldest dropped beyond `max_sessions`."""

    def __init__(self, settings: UiSettings) -> None:
        self.settings = settings
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._failures: list[float] = []

    def login(self, token: str) -> Session | None:
        """A new session when `token` is the operator's; raises TooManyAttempts past the rate limit."""
        now = time.monotonic()
        self._failures = [t for t in self._failures if now - t < 60]
        if len(self._failures) >= LOGIN_FAILURES_PER_MINUTE:
            raise TooManyAttempts()
        expected = self.settings.token
        if expected is None or not hmac.compare_digest(token.strip().encode(), expected.strip().encode()):
            self._failures.append(now)
            return None
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now + self.settings.session_seconds)
        self._sessions[session.id] = session
        while len(self._sessions) > self.settings.max_sessions:
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if session.expires < time.monotonic():
            del self._sessions[session_id]
            return None
        return session

    def logout(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)


def same_token(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given).encode(), str(expected).encode())


def same_origin(origin: str | None, referer: str | None, host: str | None) -> bool:
    """False when the browser says the request comes from another site; True when it does not say."""
    source = origin if origin and origin != "null" else referer
    if origin == "null":
        return False  # sandboxed frames, data: URLs
    if not source:
        return True  # not a browser, or one that sends neither: the CSRF token decides
    try:
        netloc = urlsplit(source).netloc
    except ValueError:
        return False
    return bool(host) and netloc.lower() == (host or "").lower()


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only (no //host, no scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
