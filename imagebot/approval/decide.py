"""A person's decision on a request, from wherever it is made: who, cleaned for commit trailers."""

from __future__ import annotations

import getpass
import socket
import unicodedata

MAX_WHO = 120


def clean_who(text: str) -> str:
    """One line of printable text: it goes into an `Approved-by:` trailer and a Slack message."""
    kept = "".join(ch if unicodedata.category(ch)[0] not in "CZ" or ch == " " else " " for ch in text)
    return " ".join(kept.split())[:MAX_WHO] or "unknown"


def local_user() -> str:
    """The operator at this shell: `user@host`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return clean_who(f"{user}@{socket.gethostname()}")
