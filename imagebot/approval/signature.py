"""Slack's request signing, as Slack describes it ("Verifying requests from Slack"):

    X-Slack-Signature: v0=HEX(HMAC-SHA256(signing secret, "v0:" + X-Slack-Request-Timestamp + ":" + raw body))

A request is taken only when its timestamp is within five minutes of now, its signature matches
one of the signing secrets (compared in constant time), and that signature was not seen before.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

MAX_AGE = 300.0  # seconds either side of now, as Slack recommends
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureError(Exception):
    """A request that is not from Slack, or not now; the text says which check failed."""


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "v0=" + hmac.new(secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


def verify(secrets: Sequence[bytes], timestamp: str | None, signature: str | None, body: bytes, now: float) -> int:
    """The index of the secret that signed the request; SignatureError when none did or it is stale."""
    if not timestamp or not signature:
        raise SignatureError("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError("X-Slack-Request-Timestamp is not a Unix time")
    if abs(now - int(timestamp)) > MAX_AGE:
        raise SignatureError(f"X-Slack-Request-Timestamp is more than {MAX_AGE:.0f}s from now")
    if not _SIGNATURE.fullmatch(signature):
        raise SignatureError("X-Slack-Signature is not a v0 signature")
    matched = -1
    for index, secret in enumerate(secrets):  # every secret is tried: the time taken says nothing of which
        if hmac.compare_digest(sign(secret, timestamp, body), signature) and matched < 0:
            matched = index
    if matched < 0:
        raise SignatureError("X-Slack-Signature does not match")
    return matched
