"""The process's cloud registry logins: one per (provider, registry), kept until RENEW_BEFORE ahead
of its expiry, renewed at once when the registry refuses it. Logins run in a worker thread: the
clouds' libraries (botocore, google-auth, azure-identity) block."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from imagebot.redact import register_credentials
from imagebot.registry.cloud._hosts import host_problem, hostname
from imagebot.registry.credentials import CredentialLookupError, Credentials

if TYPE_CHECKING:
    from imagebot.proxy import Proxy

RENEW_BEFORE = 300.0  # seconds: a login with less than 5 minutes left is replaced before use

SOURCES = {
    "aws": "provider aws (ECR GetAuthorizationToken, AWS credential chain)",
    "gcp": "provider gcp (Google Application Default Credentials)",
    "azure": "provider azure (DefaultAzureCredential, ACR token exchange)",
}


@dataclass(frozen=True)
class Login:
    """What a cloud issued for its registry: a user name, a password (token) and when it expires."""

    username: str
    password: str = field(repr=False)
    expires_at: float  # time.time()


@dataclass(frozen=True)
class Reach:
    """How to reach the registry (ACR's token exchange is on the registry host) and the cloud's token
    service: the ImageRepository's proxySecretRef carries both, as in Flux."""

    ca_pem: bytes | None = field(default=None, repr=False)
    ca_file: Path | None = None
    insecure: bool = False
    proxy: Proxy | None = None  # None: the environment's, as each SDK reads it


class CloudLogins:
    """Logins per (provider, registry host), thread-safe; `logins` counts the logins made."""

    def __init__(self) -> None:
        self._logins: dict[tuple[str, str], Login] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self.logins = 0

    async def credentials(self, provider: str, registry: str, reach: Reach | None = None) -> Credentials:
        """Credentials for `registry` from `provider`'s login, which renew themselves when refused."""
        problem = host_problem(provider, registry)
        if problem is not None:
            raise CredentialLookupError(problem)
        reach = reach or Reach()
        login = await asyncio.to_thread(self._current, provider, registry, reach, None)
        return self._credentials(provider, registry, reach, login)

    def _credentials(self, provider: str, registry: str, reach: Reach, login: Login) -> Credentials:
        async def renew() -> Credentials:
            fresh = await asyncio.to_thread(self._current, provider, registry, reach, login)
            return self._credentials(provider, registry, reach, fresh)

        return Credentials(login.username, login.password, SOURCES[provider], renew=renew)

    def _current(self, provider: str, registry: str, reach: Reach, refused: Login | None) -> Login:
        key = (provider, hostname(registry))
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._logins.get(key)
            # A login refused by the registry is replaced, unless another call has done so already.
            usable = cached is not None and cached != refused and cached.expires_at - RENEW_BEFORE > time.time()
            if usable:
                assert cached is not None
                return cached
            login = _LOGIN[provider](registry, reach)
            register_credentials(login.username, login.password)
            self.logins += 1
            self._logins[key] = login
            return login

    def clear(self) -> None:
        """Forget every login (and the count)."""
        with self._guard:
            self._logins.clear()
            self.logins = 0


def _aws(registry: str, reach: Reach) -> Login:
    from imagebot.registry.cloud.aws import ecr_login

    return ecr_login(registry, reach.proxy)


def _gcp(registry: str, reach: Reach) -> Login:
    from imagebot.registry.cloud.gcp import gcp_login

    return gcp_login(registry, reach.proxy)


def _azure(registry: str, reach: Reach) -> Login:
    from imagebot.registry.cloud.azure import acr_login

    return acr_login(registry, reach)


_LOGIN: dict[str, Callable[[str, Reach], Login]] = {"aws": _aws, "gcp": _gcp, "azure": _azure}

LOGINS = CloudLogins()  # the process's logins: a service reuses them across cycles
