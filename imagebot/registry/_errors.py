"""Errors of the registry client. Each str() names the repository, says what happened and what to do."""

from __future__ import annotations

from imagebot.redact import scrub


class RegistryError(Exception):
    """A registry operation failed; `repository` is registry/repository, `host` the API host."""

    def __init__(self, message: str, *, repository: str = "", host: str = "") -> None:
        # Messages quote what registries answered: no registered credential may pass through.
        super().__init__(scrub(message))
        self.repository = repository
        self.host = host


class AuthError(RegistryError):
    """The registry or its token server refused us (401/403), or credentials could not be found."""


class NotFound(RegistryError):
    """The repository, tag or blob does not exist (404)."""


class RateLimited(RegistryError):
    """The host kept answering 429; it is skipped for the rest of this client's cycle."""


class RegistryUnavailable(RegistryError):
    """Connection failures, timeouts, TLS failures or 5xx answers that outlasted the retries."""


class InvalidResponse(RegistryError):
    """The registry answered something we cannot use: malformed JSON, a missing digest, a bad link."""
