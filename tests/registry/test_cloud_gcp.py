"""provider: gcp: google-auth's Application Default Credentials from a service account key whose
token_uri points at a fake Google OAuth2 token endpoint. The fake checks the JWT-bearer grant
(RFC 7523, as Google's service account documentation describes it): grant type, the assertion's
RS256 signature by the key's public half, iss, aud (Google's token endpoint) and scope; the access
token it issues is the password of `oauth2accesstoken` at a real registry.

And from the metadata server of GCE, GKE and Cloud Run, faked as Google's "View and query VM
metadata" (https://cloud.google.com/compute/docs/metadata/querying-metadata) describes it: every
request carries `Metadata-Flavor: Google` and every answer too, a request without it is refused
with 403, and so is one with `X-Forwarded-For` ("automatically rejected": a proxied request). The
paths and queries are those google-auth 2.63 asks for (google/auth/compute_engine/_metadata.py,
credentials.py; google/auth/_default.py `_get_gce_credentials`)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.compute_engine import _metadata

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


def _google_registry(folder: Path, token: str, tag: str) -> Iterator[RegistryServer]:
    """A registry that takes `token` as the password of oauth2accesstoken, as Artifact Registry does."""
    with start_registry(folder, auth="htpasswd", username="oauth2accesstoken", password=token) as server:
        server.push_image("project/repo/app", tag)
        yield server


@pytest.fixture(scope="module")
def gar_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    yield from _google_registry(tmp_path_factory.mktemp("gar"), ACCESS_TOKEN, "2.0.0")


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


METADATA_TOKEN = "ya29.imagebot-test-metadata-token"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_METADATA_ROOT = "/computeMetadata/v1/"
_SERVICE_ACCOUNT = _METADATA_ROOT + "instance/service-accounts/default/"


@dataclass(frozen=True)
class MetadataRequest:
    host: str  # the Host header: GCE_METADATA_HOST's name or GCE_METADATA_IP's
    path: str
    query: dict[str, list[str]]
    proxied: bool  # came with X-Forwarded-For or Via


class FakeMetadataServer:
    """The metadata server's answers to what google-auth asks; anything else is a violation."""

    def __init__(self) -> None:
        self.port = 0
        self.seen: list[MetadataRequest] = []
        self.violations: list[str] = []
        self._lock = threading.Lock()

    def handle(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
        url = urlsplit(target)
        query = parse_qs(url.query, keep_blank_values=True)
        proxied = "x-forwarded-for" in headers or "via" in headers
        with self._lock:
            self.seen.append(MetadataRequest(headers.get("host", ""), url.path, query, proxied))
        refused = self._refusal(method, headers)
        if refused:
            return self._violation(403, f"{method} {target}: {refused}")
        if url.path == "/" and not query:  # google-auth's detection ping, at GCE_METADATA_IP
            return 200, "application/text", b"computeMetadata/\n"
        if url.path == _METADATA_ROOT + "project/project-id" and not query:
            return 200, "application/text", b"test-project"
        if url.path == _SERVICE_ACCOUNT and query == {"recursive": ["true"]}:
            return _json({"aliases": ["default"], "email": EMAIL, "scopes": [SCOPE]})
        if url.path == _SERVICE_ACCOUNT + "token" and set(query) <= {"scopes"}:
            scopes = query.get("scopes", [""])[0].split(",")
            if SCOPE not in scopes or len(query.get("scopes", [])) > 1:
                return self._violation(400, f"token scopes {query.get('scopes')}, not the one imagebot asks for")
            return _json({"access_token": METADATA_TOKEN, "expires_in": 3599, "token_type": "Bearer"})
        return self._violation(404, f"{method} {target}: not a metadata path google-auth asks for")

    @staticmethod
    def _refusal(method: str, headers: dict[str, str]) -> str:
        if method != "GET":
            return "google-auth's unbound token requests are GETs"
        if headers.get("metadata-flavor") != "Google":
            return "no Metadata-Flavor: Google header"
        if "x-forwarded-for" in headers:
            return "X-Forwarded-For: a proxied request, which the metadata server rejects"
        return ""

    def _violation(self, status: int, problem: str) -> tuple[int, str, bytes]:
        with self._lock:
            self.violations.append(problem)
        return status, "text/plain", problem.encode()

    def token_requests(self) -> list[MetadataRequest]:
        return [r for r in self.seen if r.path == _SERVICE_ACCOUNT + "token"]


def _json(answer: dict[str, Any]) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(answer).encode()


@contextmanager
def _serve_metadata(fake: FakeMetadataServer) -> Iterator[int]:
    class Serve(BaseHTTPRequestHandler):
        def _any(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, content_type, body = fake.handle(self.command, self.path, headers)
            self.send_response(status)
            self.send_header("Metadata-Flavor", "Google")
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = _any

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def metadata_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeMetadataServer]:
    """ADC with nothing but the metadata server: no key file, no gcloud login (a hermetic HOME and
    CLOUDSDK_CONFIG), no environment proxies. GCE_METADATA_HOST and GCE_METADATA_IP name the fake by
    two different names (localhost, 127.0.0.1), so that each one's exclusion from a proxy counts."""
    fake = FakeMetadataServer()
    with _serve_metadata(fake) as port:
        fake.port = port
        for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GCE_METADATA_ROOT", "GCE_METADATA_MTLS_MODE",
                     "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        (tmp_path / "home").mkdir()
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
        monkeypatch.setenv("GCE_METADATA_HOST", f"localhost:{port}")
        monkeypatch.setenv("GCE_METADATA_IP", f"127.0.0.1:{port}")
        # google-auth reads GCE_METADATA_HOST once, when imported (GCE_METADATA_IP on every ping): in a
        # process started with the variable set, as on a node, this is the value it holds.
        monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", f"localhost:{port}")
        resolve_to_loopback(monkeypatch, ".pkg.dev")
        LOGINS.clear()
        yield fake
    LOGINS.clear()
    assert not fake.violations, fake.violations


@pytest.fixture(scope="module")
def gce_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    yield from _google_registry(tmp_path_factory.mktemp("gce"), METADATA_TOKEN, "3.0.0")


def test_gcp_login_from_the_metadata_server(metadata_server: FakeMetadataServer,
                                            gce_registry: RegistryServer) -> None:
    image = f"{HOST}:{gce_registry.host.rsplit(':', 1)[1]}/project/repo/app"
    assert _list(image) == ["3.0.0"]
    assert _list(image) == ["3.0.0"]  # the login is kept

    port = metadata_server.port
    assert [(r.host, r.path) for r in metadata_server.seen] == [
        (f"127.0.0.1:{port}", "/"),  # the detection ping, at GCE_METADATA_IP
        (f"localhost:{port}", _METADATA_ROOT + "project/project-id"),
        (f"localhost:{port}", _SERVICE_ACCOUNT),
        (f"localhost:{port}", _SERVICE_ACCOUNT + "token"),
    ]
    assert metadata_server.token_requests()[0].query == {"scopes": [SCOPE]}
    assert LOGINS.logins == 1


def test_the_metadata_server_is_reached_directly_past_the_image_repositorys_proxy(
        metadata_server: FakeMetadataServer, gce_registry: RegistryServer, squid: SquidProxy,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The metadata server is on the node, where a corporate proxy cannot reach (and it refuses what a
    proxy forwards): the ping, the account and the token go to it directly, neither through the
    ImageRepository's proxy nor through the environment's."""
    proxy = proxy_over_a_dead_environment(squid, monkeypatch)

    assert _list(f"{HOST}:{gce_registry.host.rsplit(':', 1)[1]}/project/repo/app", proxy) == ["3.0.0"]

    port = metadata_server.port
    assert [(r.host, r.path, r.proxied) for r in metadata_server.seen] == [
        (f"127.0.0.1:{port}", "/", False),
        (f"localhost:{port}", _METADATA_ROOT + "project/project-id", False),
        (f"localhost:{port}", _SERVICE_ACCOUNT, False),
        (f"localhost:{port}", _SERVICE_ACCOUNT + "token", False),
    ]
    registry = squid.requests_matching(lambda r: HOST in r.url and r.status == 200)
    assert registry and {r.user for r in registry} == {squid.username}  # the registry, through squid
    metadata = (f"localhost:{port}", f"127.0.0.1:{port}", "computeMetadata")
    assert not [r for r in squid.requests() if any(m in r.url for m in metadata)]
