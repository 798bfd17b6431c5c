"""How to reach one ImageRepository's registry: credentials, TLS material, http, timeout."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagebot.proxy import Proxy


@dataclass(frozen=True)
class AccessOptions:
    """Per-ImageRepository access settings (from secretRef, certSecretRef, proxySecretRef, insecure, timeout).

    `secret_name` and `cert_secret_name` only name the secrets in error messages.
    Secret material is kept out of repr() so it never reaches a log line.
    """

    credentials_config: bytes | None = field(default=None, repr=False)
    ca_pem: bytes | None = field(default=None, repr=False)
    cert_pem: bytes | None = field(default=None, repr=False)
    key_pem: bytes | None = field(default=None, repr=False)
    insecure: bool = False
    timeout: float = 60.0
    secret_name: str | None = None
    cert_secret_name: str | None = None
    provider: str = "generic"  # aws, azure, gcp: imagebot logs in to the cloud's registry (registry/cloud)
    proxy: Proxy | None = None  # None: the environment's (HTTPS_PROXY, NO_PROXY), as httpx reads it
