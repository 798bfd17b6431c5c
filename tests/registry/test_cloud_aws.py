"""provider: aws against a fake ECR API reached through AWS_ENDPOINT_URL_ECR: each request checked
against the ECR service model botocore ships (operation, parameters) and its SigV4 signature
recomputed with the test's secret key; the token it issues logs in to a real registry."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as AwsCredentials
from botocore.loaders import Loader
from botocore.model import ServiceModel
from botocore.validate import ParamValidator

from imagebot import redact
from imagebot.proxy import Proxy
from imagebot.registry import AccessOptions, AuthError, ImageReference, RegistryClient
from imagebot.registry.cloud import LOGINS, RENEW_BEFORE, CloudLogins
from tests.support.clouds import json_server, resolve_to_loopback
from tests.support.proxy import SquidProxy, proxy_over_a_dead_environment
from tests.support.registry import RegistryServer, start_registry

ACCESS_KEY, SECRET_KEY = "AKIAIMAGEBOTTEST0001", "imagebot/test/secret/key/0000000000000000"
PASSWORD = "ecr-pa55word-for-the-registry"
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
MODEL = ServiceModel(Loader().load_service_model("ecr", "service-2"), "ecr")


class FakeEcr:
    def __init__(self) -> None:
        self.passwords = [PASSWORD]  # handed out in turn; the last one stays
        self.lifetime = 12 * 3600.0
        self.calls = 0
        self.violations: list[str] = []

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        operation = headers.get("X-Amz-Target", "").removeprefix(MODEL.metadata["targetPrefix"] + ".")
        problems = []
        if method != "POST" or operation not in MODEL.operation_names:
            problems.append(f"{method} {path} target {headers.get('X-Amz-Target')!r} is no ECR operation")
        elif operation != "GetAuthorizationToken":
            problems.append(f"unexpected operation {operation}")
        else:
            report = ParamValidator().validate(json.loads(body or b"{}"),
                                               MODEL.operation_model(operation).input_shape)
            if report.has_errors():
                problems.append(report.generate_report())
        if not _signed(headers, body, path):
            problems.append("the SigV4 signature does not match the test's secret key")
        if problems:
            self.violations += problems
            return 400, {"__type": "InvalidSignatureException" if "SigV4" in problems[-1] else "ValidationException",
                         "message": "; ".join(problems)}
        self.calls += 1
        password = self.passwords.pop(0) if len(self.passwords) > 1 else self.passwords[0]
        token = base64.b64encode(f"AWS:{password}".encode()).decode()
        return 200, {"authorizationData": [{"authorizationToken": token, "expiresAt": time.time() + self.lifetime,
                                            "proxyEndpoint": f"https://{HOST}"}]}


def _signed(headers: dict[str, str], body: bytes, path: str) -> bool:
    """Recompute the request's SigV4 signature with the secret key the client was given."""
    authorization = headers.get("Authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 ") or f"Credential={ACCESS_KEY}/" not in authorization:
        return False
    fields = dict(part.strip().split("=", 1) for part in authorization[len("AWS4-HMAC-SHA256 "):].split(","))
    scope = fields["Credential"].split("/")
    signed = fields["SignedHeaders"].split(";")
    lower = {k.lower(): v for k, v in headers.items()}
    request = AWSRequest(method="POST", url=f"http://{lower['host']}{path}", data=body,
                         headers={name: lower[name] for name in signed})
    request.context["timestamp"] = lower["x-amz-date"]
    signer = SigV4Auth(AwsCredentials(ACCESS_KEY, SECRET_KEY), scope[3], scope[2])
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return scope[2:] == ["us-east-1", "ecr", "aws4_request"] and expected == fields["Signature"]


@pytest.fixture
def ecr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeEcr]:
    fake = FakeEcr()
    with json_server(fake.handle) as url:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", url)
        resolve_to_loopback(monkeypatch, ".amazonaws.com")
        LOGINS.clear()
        yield fake
    LOGINS.clear()
    assert not fake.violations, fake.violations


@pytest.fixture(scope="module")
def ecr_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with start_registry(tmp_path_factory.mktemp("ecr"), auth="htpasswd", username="AWS",
                        password=PASSWORD) as server:
        server.push_image("team/app", "1.0.0")
        server.push_image("team/app", "1.1.0")
        yield server


def _image(registry: RegistryServer) -> ImageReference:
    return ImageReference.parse(f"{HOST}:{registry.host.rsplit(':', 1)[1]}/team/app")


def _list(ref: ImageReference, proxy: Proxy | None = None) -> list[str]:
    async def go() -> list[str]:
        options = AccessOptions(provider="aws", insecure=True, proxy=proxy)
        async with RegistryClient() as client:
            first = await client.list_tags(ref, options)
            await client.head_digest(ref, "1.0.0", options)
            return first
    return asyncio.run(go())


def test_ecr_login_lists_tags_with_one_signed_call(ecr: FakeEcr, ecr_registry: RegistryServer) -> None:
    assert sorted(_list(_image(ecr_registry))) == ["1.0.0", "1.1.0"]
    assert sorted(_list(_image(ecr_registry))) == ["1.0.0", "1.1.0"]  # a second cycle: the login is reused
    assert ecr.calls == 1 and LOGINS.logins == 1
    assert PASSWORD not in redact.scrub(f"password {PASSWORD}")


def test_a_refused_login_is_renewed_once(ecr: FakeEcr, ecr_registry: RegistryServer) -> None:
    ecr.passwords = ["revoked-password-0000", PASSWORD]
    assert sorted(_list(_image(ecr_registry))) == ["1.0.0", "1.1.0"]
    assert ecr.calls == 2


def test_a_login_near_its_expiry_is_renewed(ecr: FakeEcr) -> None:
    ecr.lifetime = RENEW_BEFORE + 1
    logins = CloudLogins()
    first = asyncio.run(logins.credentials("aws", HOST))
    assert asyncio.run(logins.credentials("aws", HOST)) == first
    time.sleep(1.2)
    asyncio.run(logins.credentials("aws", HOST))
    assert ecr.calls == 2 and logins.logins == 2
    assert (first.username, first.source) == ("AWS", "provider aws (ECR GetAuthorizationToken, AWS credential chain)")


def test_wrong_aws_keys_and_a_foreign_host_are_clear_errors(ecr: FakeEcr, ecr_registry: RegistryServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-key-000000000000000000000")
    with pytest.raises(AuthError, match="ECR refused GetAuthorizationToken in us-east-1 "
                                        r"\(InvalidSignatureException"):
        _list(_image(ecr_registry))
    assert "not-the-secret-key" not in str(ecr.violations)  # the fake saw only a signature
    ecr.violations.clear()
    with pytest.raises(AuthError, match=re.escape("provider aws logs in to ACCOUNT.dkr.ecr.REGION.amazonaws.com or "
                                                  "public.ecr.aws, not to ghcr.io")):
        asyncio.run(_foreign())
    assert ecr.calls == 0


async def _foreign() -> None:
    async with RegistryClient() as client:
        await client.list_tags(ImageReference.parse("ghcr.io/org/app"), AccessOptions(provider="aws"))


def test_the_login_goes_through_the_image_repositorys_proxy(ecr: FakeEcr, ecr_registry: RegistryServer,
                                                           squid: SquidProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = proxy_over_a_dead_environment(squid, monkeypatch)

    assert sorted(_list(_image(ecr_registry), proxy)) == ["1.0.0", "1.1.0"]

    assert ecr.calls == 1
    endpoint = os.environ["AWS_ENDPOINT_URL_ECR"].removeprefix("http://")
    logins = squid.requests_matching(lambda r: r.method == "POST")
    assert [(r.url, r.status, r.user) for r in logins] == [(f"http://{endpoint}/", 200, squid.username)]
    assert squid.requests_matching(lambda r: r.method == "GET" and HOST in r.url)  # the registry, too
