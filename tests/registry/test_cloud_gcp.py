"""provider: gcp: google-auth's Application Default Credentials from a service account key whose
token_uri points at a fake Google OAuth2 token endpoint. The fake checks the JWT-bearer grant
(RFC 7523, as Google's service account documentation describes it): grant type, the assertion's
RS256 signature by the key's public half, iss, aud (Google's token endpoint) and scope; the access
token it issues is the password of `oauth2accesstoken` at a real registry."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from imagebot.proxy import Proxy
from imagebot.registry import AccessOptions, AuthError, ImageReference, RegistryClient
from imagebot.registry.cloud import LOGINS
from tests.support.clouds import json_server, resolve_to_loopback
from tests.support.proxy import SquidProxy, proxy_over_a_dead_environment
from tests.support.registry import RegistryServer, start_registry

ACCESS_TOKEN = "ya29.imagebot-test-access-token"
HOST = "europe-docker.pkg.dev"
GOOGLE_AUDIENCE = "https://oauth2.googleapis.com/token"  # the assertion's aud, whatever token_uri says
EMAIL = "imagebot@test-project.iam.gserviceaccount.com"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE = _KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()
PUBLIC = _KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class FakeGoogleToken:
    def __init__(self) -> None:
        self.url = ""
        self.calls = 0
        self.tokens = [ACCESS_TOKEN]  # handed out in turn; the last one stays
        self.violations: list[str] = []

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        problems = []
        if method != "POST" or path != "/token":
            problems.append(f"{method} {path} is not the token endpoint")
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            problems.append(f"grant_type {form.get('grant_type')!r}")
        try:
            claims = jwt.decode(form.get("assertion", ""), PUBLIC, algorithms=["RS256"], audience=GOOGLE_AUDIENCE)
        except jwt.PyJWTError as exc:
            return 400, {"error": "invalid_grant", "error_description": f"Invalid JWT Signature: {exc}"}
        if claims.get("iss") != EMAIL or "https://www.googleapis.com/auth/cloud-platform" not in claims.get(
                "scope", "").split():
            problems.append(f"claims {claims}")
        if problems:
            self.violations += problems
            return 400, {"error": "invalid_request", "error_description": "; ".join(problems)}
        self.calls += 1
        token = self.tokens.pop(0) if len(self.tokens) > 1 else self.tokens[0]
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeGoogleToken]:
    fake = FakeGoogleToken()
    with json_server(fake.handle) as url:
        fake.url = url
        key = {"type": "service_account", "project_id": "test-project", "private_key_id": "k1",
               "private_key": PRIVATE, "client_email": EMAIL, "client_id": "1", "token_uri": f"{url}/token"}
        path = tmp_path / "sa.json"
        path.write_text(json.dumps(key))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
        monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
        resolve_to_loopback(monkeypatch, ".pkg.dev", ".gcr.io")
        LOGINS.clear()
        yield fake
    LOGINS.clear()
    assert not fake.violations, fake.violations


@pytest.fixture(scope="module")
def gar_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with start_registry(tmp_path_factory.mktemp("gar"), auth="htpasswd", username="oauth2accesstoken",
                        password=ACCESS_TOKEN) as server:
        server.push_image("project/repo/app", "2.0.0")
        yield server


def _list(image: str, proxy: Proxy | None = None) -> list[str]:
    async def go() -> list[str]:
        async with RegistryClient() as client:
            return await client.list_tags(ImageReference.parse(image),
                                          AccessOptions(provider="gcp", insecure=True, proxy=proxy))
    return asyncio.run(go())


def test_gcp_login_from_a_service_account_key(google: FakeGoogleToken, gar_registry: RegistryServer) -> None:
    image = f"{HOST}:{gar_registry.host.rsplit(':', 1)[1]}/project/repo/app"
    assert _list(image) == ["2.0.0"]
    assert _list(image) == ["2.0.0"]
    assert google.calls == 1 and LOGINS.logins == 1


@pytest.fixture(scope="module")
def gar_token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """Artifact Registry's way: a bearer challenge whose token server takes oauth2accesstoken Basic."""
    with start_registry(tmp_path_factory.mktemp("gar-token"), auth="token", username="oauth2accesstoken",
                        password=ACCESS_TOKEN, token_server_tls=False) as server:
        server.push_image("project/repo/app", "2.1.0")
        yield server


def test_a_token_the_token_server_refuses_is_renewed_once(google: FakeGoogleToken,
                                                           gar_token_registry: RegistryServer) -> None:
    google.tokens = ["ya29.revoked-access-token", ACCESS_TOKEN]
    assert _list(f"{HOST}:{gar_token_registry.host.rsplit(':', 1)[1]}/project/repo/app") == ["2.1.0"]
    assert google.calls == 2 and LOGINS.logins == 2
    token_server = gar_token_registry.token_server
    assert token_server is not None and token_server.token_count("oauth2accesstoken") >= 1


def test_a_refused_key_is_a_clear_error(google: FakeGoogleToken, gar_registry: RegistryServer,
                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    key = json.loads(Path(str(__import__("os").environ["GOOGLE_APPLICATION_CREDENTIALS"])).read_text())
    key["private_key"] = other
    (tmp_path / "other.json").write_text(json.dumps(key))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "other.json"))
    started = time.monotonic()
    with pytest.raises(AuthError) as caught:
        _list(f"{HOST}:{gar_registry.host.rsplit(':', 1)[1]}/project/repo/app")
    message = str(caught.value)
    assert "cannot log in: provider gcp: getting an access token failed" in message and "invalid_grant" in message
    assert other.splitlines()[2] not in message
    assert time.monotonic() - started < 30


def test_the_token_request_goes_through_the_image_repositorys_proxy(
        google: FakeGoogleToken, gar_registry: RegistryServer, squid: SquidProxy,
        monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = proxy_over_a_dead_environment(squid, monkeypatch)

    assert _list(f"{HOST}:{gar_registry.host.rsplit(':', 1)[1]}/project/repo/app", proxy) == ["2.0.0"]

    assert google.calls == 1
    tokens = squid.requests_matching(lambda r: r.method == "POST")
    assert [(r.url, r.status, r.user) for r in tokens] == [(f"{google.url}/token", 200, squid.username)]
    assert squid.requests_matching(lambda r: r.method == "GET" and HOST in r.url)  # the registry, too
