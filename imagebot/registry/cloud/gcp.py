"""GCR and Artifact Registry: an OAuth2 access token from Google's Application Default Credentials
(google-auth): GOOGLE_APPLICATION_CREDENTIALS (a service account key or an external account file),
gcloud's `auth application-default login`, or the metadata server on GCE/GKE/Cloud Run
(GCE_METADATA_HOST overrides its address). The registry takes it as the password of
`oauth2accesstoken`."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING

from imagebot.registry.cloud._logins import Login
from imagebot.registry.cloud._proxies import sdk_proxies
from imagebot.registry.credentials import CredentialLookupError

if TYPE_CHECKING:
    from imagebot.proxy import Proxy

USERNAME = "oauth2accesstoken"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def gcp_login(registry: str, proxy: Proxy | None = None) -> Login:
    import google.auth
    import google.auth.transport.requests
    import requests
    from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError

    session = requests.Session()
    if proxy is not None:  # the object's proxy alone: requests lets the environment's override a session's
        session.trust_env = False
        session.proxies.update(sdk_proxies(proxy))
    try:
        with session:
            request = google.auth.transport.requests.Request(session)
            # ADC's own requests (the metadata server's detection ping and project, an external
            # account's project) take the session too: left to itself, google-auth sends them through
            # the environment's proxy, past the metadata server's exclusion from the object's proxy.
            credentials, _project = google.auth.default(scopes=SCOPES, request=request)
            credentials.refresh(request)
    except DefaultCredentialsError as exc:
        raise CredentialLookupError(
            "provider gcp: no Google credentials found (GOOGLE_APPLICATION_CREDENTIALS, gcloud auth "
            f"application-default login, or the metadata server): {str(exc)[:200]}") from None
    except (GoogleAuthError, OSError, ValueError) as exc:
        raise CredentialLookupError(f"provider gcp: getting an access token failed: {str(exc)[:300]}") from None
    token = credentials.token
    if not token or credentials.expiry is None:
        raise CredentialLookupError("provider gcp: the credentials gave no access token and expiry")
    return Login(USERNAME, token, credentials.expiry.replace(tzinfo=UTC).timestamp())  # expiry is naive UTC
