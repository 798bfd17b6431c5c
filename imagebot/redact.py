"""Keeping secrets (webhook URLs, tokens, passwords) out of logs and exception text.

A webhook URL is itself the credential (Slack, Teams, Discord put the secret in the path), so
anything a notifier says about where it posts goes through `redact_url`, and every text that might
quote a request (httpx's own "HTTP Request: POST <url>" log line included) goes through `scrub`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from urllib.parse import urlsplit

MASK = "***"

# Secret strings registered by live notifiers; the httpx log filter scrubs them from every record.
_secrets: set[str] = set()
_lock = threading.Lock()
_filter_installed = False


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


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret (and of the globally registered ones) by `***`."""
    for secret in sorted({*secrets, *_registered()}, key=len, reverse=True):
        if len(secret) >= 4 and secret in text:
            text = text.replace(secret, MASK)
    return text


def register_secrets(secrets: Iterable[str]) -> None:
    """Remember secrets so that other libraries' log lines (httpx logs every URL at INFO) hide them."""
    global _filter_installed
    with _lock:
        _secrets.update(s for s in secrets if s and len(s) >= 4)
        if not _filter_installed:
            logging.getLogger("httpx").addFilter(_ScrubFilter())
            _filter_installed = True


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


def _registered() -> list[str]:
    with _lock:
        return list(_secrets)


class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _registered()
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the emitter's problem; let logging report it
            return True
        cleaned = scrub(message, ())
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class RedactingFilter(logging.Filter):
    """Scrubs every registered secret from a record's message: put on the handlers of the process."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _ScrubFilter().filter(record)


def install_redaction(handler: logging.Handler) -> None:
    handler.addFilter(RedactingFilter())
