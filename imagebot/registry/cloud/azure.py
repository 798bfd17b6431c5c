"""ACR: a Microsoft Entra access token for Azure Resource Manager from azure-identity's
DefaultAzureCredential (environment: AZURE_TENANT_ID, AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or
AZURE_CLIENT_CERTIFICATE_PATH; workload identity; managed identity; the Azure CLI's `az login`;
AZURE_AUTHORITY_HOST for sovereign clouds), exchanged at the registry's POST /oauth2/exchange for an
ACR refresh token, used as the password of the all-zero user name as `az acr login --expose-token`
does (the steps of Flux's fluxcd/pkg auth/azure). The refresh token's own `exp` says when it ends."""

from __future__ import annotations

import time

import httpx

from imagebot import redact
from imagebot.httpbody import BodyTooLarge, BodyTooSlow, read_capped
from imagebot.registry.cloud._hosts import hostname
from imagebot.registry.cloud._logins import Login, Reach
from imagebot.registry.cloud._proxies import sdk_proxies
from imagebot.registry.credentials import CredentialLookupError

USERNAME = "00000000-0000-0000-0000-000000000000"
# The Resource Manager audience of each cloud's registries (azure-sdk-for-go cloud configurations).
_SCOPES = {
    ".azurecr.cn": "https://management.chinacloudapi.cn/.default",
    ".azurecr.us": "https://management.usgovcloudapi.net/.default",
    ".azurecr.de": "https://management.microsoftazure.de/.default",
}
_PUBLIC_SCOPE = "https://management.azure.com/.default"
_MAX_ANSWER = 256 * 1024  # an exchange answer is a few KiB
_ANSWER_SECONDS = 60.0  # for the whole answer, however slowly it trickles
_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def scope_for(registry: str) -> str:
    host = hostname(registry)
    return next((scope for suffix, scope in _SCOPES.items() if host.endswith(suffix)), _PUBLIC_SCOPE)


def acr_login(registry: str, reach: Reach) -> Login:
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import CredentialUnavailableError, DefaultAzureCredential

    scope = scope_for(registry)
    try:
        proxies = {"proxies": sdk_proxies(reach.proxy)} if reach.proxy else {}
        with DefaultAzureCredential(exclude_powershell_credential=True,
                                    exclude_interactive_browser_credential=True, **proxies) as credential:
            access = credential.get_token(scope).token
    except (CredentialUnavailableError, ClientAuthenticationError) as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise CredentialLookupError(
            "provider azure: no Microsoft Entra token for Azure Resource Manager (AZURE_TENANT_ID, "
            f"AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, workload or managed identity, or `az login`): {first}"
        ) from None
    redact.register_secrets([access])
    refresh = _exchange(registry, access, reach)
    return Login(USERNAME, refresh, _expiry(refresh))


def _exchange(registry: str, access_token: str, reach: Reach) -> str:
    from imagebot.registry._tls import TLSMaterialError, build_ssl_context

    scheme = "http" if reach.insecure else "https"
    url = f"{scheme}://{registry}/oauth2/exchange"
    try:
        verify = build_ssl_context(ca_pem=reach.ca_pem, ca_file=reach.ca_file)
    except TLSMaterialError as exc:
        raise CredentialLookupError(f"provider azure: {exc}") from None
    form = {"grant_type": "access_token", "service": hostname(registry), "access_token": access_token}
    try:
        proxy = reach.proxy.for_httpx() if reach.proxy else None  # the registry's proxy: the exchange is on it
        with httpx.Client(verify=verify, timeout=_TIMEOUT, headers={"User-Agent": "imagebot"}, proxy=proxy) as client, \
                client.stream("POST", url, data=form) as response:
            body = read_capped(response, _MAX_ANSWER, time.monotonic() + _ANSWER_SECONDS)
    except BodyTooLarge:
        raise CredentialLookupError(f"provider azure: {url} answered more than "
                                    f"{_MAX_ANSWER // 1024} KiB, the limit for a token") from None
    except BodyTooSlow:
        raise CredentialLookupError(f"provider azure: {url} took longer than {_ANSWER_SECONDS:g}s "
                                    "to answer, the limit") from None
    except httpx.HTTPError as exc:
        raise CredentialLookupError(f"provider azure: the token exchange at {url} failed "
                                    f"({type(exc).__name__})") from None
    if response.status_code != 200:
        raise CredentialLookupError(f"provider azure: {url} refused the Entra token ({response.status_code}): "
                                    f"{redact.excerpt(body, 200)} — the identity needs the AcrPull role on the "
                                    "registry")
    try:
        refresh = httpx.Response(200, content=body).json().get("refresh_token")
    except (ValueError, AttributeError, RecursionError):
        refresh = None
    if not isinstance(refresh, str) or not refresh:
        raise CredentialLookupError(f"provider azure: {url} answered without a refresh_token")
    redact.register_secrets([refresh])
    return refresh


def _expiry(token: str) -> float:
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})  # ours to read, ACR's to verify
        return float(claims["exp"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        raise CredentialLookupError("provider azure: ACR's refresh token is not a JWT with an expiry") from None
