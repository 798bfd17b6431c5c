"""Keeping secrets out of every text imagebot shows: logs, errors, scan output, notifications.

The one place for redaction. Every credential imagebot reads is registered here with the forms it
may come back in (a registry echoing `Authorization: Basic <base64 of user:pass>` in a 401 body, a
JSON-escaped password, a URL-encoded token); `scrub` then hides each of them, and credentials
written into URLs (`https://user:token@host`), in any text. A response body is never shown as is:
`excerpt` cuts it, drops control characters and scrubs it.

A user name alone is not registered: it is an identity, not a secret (docker prints it too), and it
is often the image's own namespace, which masking would garble in every line naming the image.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words; no real credential is that short

_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()
_filter_installed = False

_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]*)@")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]+")


# ---- registering ---------------------------------------------------------------------------------

def derived_forms(secret: str) -> set[str]:
    """A secret and the forms a server or a serializer may turn it into."""
    forms = {secret, secret.strip()}
    forms.add(json.dumps(secret)[1:-1])  # as it appears inside a JSON string
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    forms.add(quote(secret, safe=""))  # as a query or form value
    forms.add(quote(secret, safe="/:@"))
    return {f for f in forms if len(f) >= MIN_SECRET_LENGTH}


def register_secrets(secrets: Iterable[str]) -> None:
    """Hide these values (and their derived forms) from every text scrubbed from now on."""
    global _pattern
    forms: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_LENGTH:
            forms |= derived_forms(secret)
    with _lock:
        if forms - _secrets:
            _secrets.update(forms)
            _pattern = None
    _install_library_filter()


def register_credentials(username: str | None, password: str | None, *, auth: str | None = None,
                         tokens: Iterable[str | None] = ()) -> None:
    """A registry or git credential: the password, `user:pass`, its base64 (as Basic auth sends it),
    a docker config's `auth` as written, and any tokens (identity, registry, bearer)."""
    values: list[str] = [t for t in tokens if t]
    if password:
        values.append(password)
        pair = f"{username or ''}:{password}"
        values.append(pair)
        encoded = base64.b64encode(pair.encode()).decode()
        values += [encoded, encoded.rstrip("="), base64.urlsafe_b64encode(pair.encode()).decode().rstrip("=")]
    if auth:
        values += [auth, auth.strip().rstrip("=")]
    register_secrets(values)


def secret_parts(url: str) -> list[str]:
    """The pieces of a URL that may carry a credential: the whole URL, its path, query, user info."""
    parts = urlsplit(url)
    pieces = [url, parts.path, parts.query, parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""]
    # Path segments after the first: `/services/T0/B0/xyz` -> `T0/B0/xyz` and each segment on its own.
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) > 1:
        pieces.append("/".join(segments[1:]))
        pieces.extend(s for s in segments[1:] if len(s) >= 8)
    return [p for p in pieces if p and p != "/"]


# ---- hiding --------------------------------------------------------------------------------------

def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with URL user info and every registered secret (and each of `secrets`) replaced by `***`."""
    text = _URL_USERINFO.sub(_scrub_userinfo, text)
    pattern = _registered_pattern()
    if pattern is not None:
        text = pattern.sub(MASK, text)
    extra = {f for s in secrets if s and len(s) >= MIN_SECRET_LENGTH for f in derived_forms(s)}
    for secret in sorted(extra, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def excerpt(body: bytes | str, limit: int = 200, secrets: Iterable[str] = ()) -> str:
    """A server's answer made safe to quote: at most `limit` characters, one line, secrets hidden."""
    # Generous slices first (a body may be megabytes); scrub before the final cut, so that a secret
    # cut in half at the limit is not left readable.
    text = body[: limit * 32].decode("utf-8", "replace") if isinstance(body, bytes) else body[: limit * 8]
    text = scrub(_CONTROL.sub(" ", text[: limit * 8]), secrets)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def redact_url(url: str) -> str:
    """`https://hooks.slack.com/services/T0/B0/xyz?x=1` -> `https://hooks.slack.com/services/***`.

    Scheme, host and port are kept (they say which service failed); user info, everything after the
    first path segment, the query and the fragment are replaced, since any of them can be the token.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    if not parts.scheme or not host:
        return MASK
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) >= 2:
        path = f"/{segments[0]}/{MASK}"
    elif segments or parts.query:
        # A one-segment path may itself be the secret (`https://x.example/<token>`).
        path = f"/{MASK}"
    else:
        path = ""
    return f"{parts.scheme}://{host}{port}{path}"


def redact_userinfo(text: str) -> str:
    """Hide credentials written into URLs (`https://user:token@host` -> `https://***@host`)."""
    return _URL_USERINFO.sub(_scrub_userinfo, text)


def _scrub_userinfo(m: re.Match[str]) -> str:
    # An ssh user name (git@) is an address, not a secret; anything else (user:pass, a token) is hidden.
    if m.group("scheme").startswith(("ssh", "git+ssh")) and ":" not in m.group("userinfo"):
        return m.group(0)
    return m.group("scheme") + MASK + "@"


def _registered_pattern() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _secrets:
            # Longest first: at one position the alternation takes the first that matches.
            ordered = sorted(_secrets, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(s) for s in ordered))
        return _pattern


# ---- logging -------------------------------------------------------------------------------------

class RedactingFilter(logging.Filter):
    """Scrubs a record's message and its extra fields: put on the handlers of the process."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the emitter's problem; let logging report it
            return True
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        for key, value in list(vars(record).items()):
            if key not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, key, scrub(value))
        return True


_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def install_redaction(handler: logging.Handler) -> None:
    handler.addFilter(RedactingFilter())


def _install_library_filter() -> None:
    """httpx logs every URL at INFO: its records are scrubbed even without imagebot's handlers."""
    global _filter_installed
    with _lock:
        if not _filter_installed:
            logging.getLogger("httpx").addFilter(RedactingFilter())
            _filter_installed = True
