"""ECR: GetAuthorizationToken, signed (SigV4) and sent by botocore with the AWS credential chain:
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY(/AWS_SESSION_TOKEN), AWS_PROFILE and ~/.aws/{credentials,config}
(SSO and assume-role profiles included), web identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN),
the ECS container and EC2 instance metadata. The region comes from the registry host;
AWS_ENDPOINT_URL_ECR (or AWS_ENDPOINT_URL) overrides the endpoint, as in every AWS SDK."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import TYPE_CHECKING

from imagebot.registry.cloud._hosts import ECR_PUBLIC, ecr_region, hostname
from imagebot.registry.cloud._logins import Login
from imagebot.registry.credentials import CredentialLookupError

if TYPE_CHECKING:
    from imagebot.proxy import Proxy


def ecr_login(registry: str, proxy: Proxy | None = None) -> Login:
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    region = ecr_region(registry)
    public = hostname(registry) == ECR_PUBLIC
    service = "ecr-public" if public else "ecr"
    try:
        # botocore takes proxies by scheme, for the service endpoint only (never the metadata service)
        proxies = {"http": proxy.url_with_credentials, "https": proxy.url_with_credentials} if proxy else None
        client = botocore.session.get_session().create_client(
            service, region_name=region, config=Config(retries={"max_attempts": 3, "mode": "standard"},
                                                       connect_timeout=10, read_timeout=30, proxies=proxies))
        answer = client.get_authorization_token()
    except NoCredentialsError:
        raise CredentialLookupError(
            "provider aws: no AWS credentials found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE "
            "or ~/.aws/credentials, web identity, or instance metadata)") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CredentialLookupError(f"provider aws: ECR refused GetAuthorizationToken in {region} "
                                    f"({error.get('Code', '?')}: {str(error.get('Message', ''))[:200]}): the "
                                    "AWS identity needs ecr:GetAuthorizationToken") from None
    except BotoCoreError as exc:
        raise CredentialLookupError(f"provider aws: GetAuthorizationToken failed: {str(exc)[:300]}") from None
    data = answer.get("authorizationData")
    entry = data if public else (data[0] if data else None)
    if not isinstance(entry, dict) or "authorizationToken" not in entry or "expiresAt" not in entry:
        raise CredentialLookupError("provider aws: ECR answered GetAuthorizationToken without a token")
    try:
        username, sep, password = base64.b64decode(entry["authorizationToken"]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        sep = ""
    if not sep:
        raise CredentialLookupError("provider aws: ECR's authorization token is not base64 of user:password")
    expires: datetime = entry["expiresAt"]  # botocore parses the timestamp of the service model
    return Login(username, password, expires.timestamp())
