"""An ImageRepository's proxy for the clouds' own token services, as the SDKs take it.

google-auth and azure-identity send through requests (azure-core's default transport), which picks
a proxy by `scheme://host` before `scheme`. The instance metadata and identity endpoints are mapped
to "" (no proxy; requests drops keys mapped to None when it merges settings), so they are reached
directly: they are link-local or on the node (EC2, ECS, EKS, GCE and Azure metadata, and whatever
identity endpoint the environment names, App Service's on localhost), where a corporate proxy
cannot reach. botocore takes the map by scheme alone, for its service endpoints; its metadata
fetches never use it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from imagebot.proxy import Proxy

_METADATA_HOSTS = ("169.254.169.254", "metadata.google.internal", "169.254.170.2", "169.254.170.23")
# Variables naming a metadata or identity endpoint (GCE_METADATA_HOST is host[:port] without a scheme).
_ENDPOINT_VARIABLES = ("GCE_METADATA_HOST", "GCE_METADATA_IP", "IDENTITY_ENDPOINT", "MSI_ENDPOINT", "IMDS_ENDPOINT",
                       "AWS_CONTAINER_CREDENTIALS_FULL_URI")


def sdk_proxies(proxy: Proxy) -> dict[str, str]:
    """Every request through `proxy`, except those to the metadata and identity endpoints."""
    url = proxy.url_with_credentials
    proxies = {"http": url, "https": url}
    for host in {*_METADATA_HOSTS, *filter(None, map(_endpoint_host, _ENDPOINT_VARIABLES))}:
        proxies[f"http://{host}"] = proxies[f"https://{host}"] = ""
    return proxies


def _endpoint_host(variable: str) -> str | None:
    value = os.environ.get(variable, "").strip()
    if not value:
        return None
    try:
        return urlsplit(value if "://" in value else f"http://{value}").hostname  # requests matches host alone
    except ValueError:
        return None
