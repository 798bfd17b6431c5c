"""Registry access: image references, the Distribution API client, credentials and errors.

`import imagebot.registry` stays light: the client (and httpx) load on first use of RegistryClient.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imagebot.registry._errors import (
    AuthError,
    InvalidResponse,
    NotFound,
    RateLimited,
    RegistryError,
    RegistryUnavailable,
)
from imagebot.registry._options import AccessOptions
from imagebot.registry._stats import RequestStats
from imagebot.registry.reference import ImageReference, is_valid_tag
from imagebot.retry import Backoff

if TYPE_CHECKING:
    from imagebot.registry._client import RegistryClient
    from imagebot.registry._pool import RegistryPool

__all__ = [
    "AccessOptions",
    "AuthError",
    "Backoff",
    "ImageReference",
    "InvalidResponse",
    "NotFound",
    "RateLimited",
    "RegistryClient",
    "RegistryError",
    "RegistryPool",
    "RegistryUnavailable",
    "RequestStats",
    "is_valid_tag",
]


def __getattr__(name: str) -> Any:
    if name == "RegistryClient":
        from imagebot.registry._client import RegistryClient

        return RegistryClient
    if name == "RegistryPool":  # asyncio loads ssl
        from imagebot.registry._pool import RegistryPool

        return RegistryPool
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
