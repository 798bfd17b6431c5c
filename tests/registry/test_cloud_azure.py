"""provider: azure: azure-identity's DefaultAzureCredential finds an App Service managed identity
(IDENTITY_ENDPOINT and IDENTITY_HEADER, the library's own endpoint settings) served by a fake; its
Resource Manager token is exchanged at the registry's POST /oauth2/exchange (the form Flux's
fluxcd/pkg auth/azure sends: grant_type=access_token, service, access_token) for an ACR refresh
token, which logs in to a real registry's token server as the all-zero user, as ACR's does."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from imagebot.proxy import Proxy
from imagebot.registry import AccessOptions, AuthError, ImageReference, RegistryClient
from imagebot.registry.cloud import LOGINS
from tests.support.clouds import json_server, resolve_to_loopback
from tests.support.proxy import SquidProxy, proxy_over_a_dead_environment
from tests.support.registry import RegistryServer, start_registry

USERNAME = "00000000-0000-0000-0000-000000000000"
# POST /oauth2/exchange (Authentication_ExchangeAadAccessTokenForAcrRefreshToken) in ACR's data-plane API
# description: Azure/azure-rest-api-specs, specification/containerregistry/data-plane/Azure.ContainerRegistry/
# stable/2021-07-01/containerregistry.json (commit 16c9ca76): form fields, True where required.
EXCHANGE_FORM = {"grant_type": True, "service": True, "tenant": False, "refresh_token": False, "access_token": False}
GRANT_TYPES = ("access_token_refresh_token", "access_token", "refresh_token")
HOST = "imagebottest.azurecr.io"
IDENTITY_HEADER = "identity-header-secret-0001"
ENTRA_TOKEN = "entra-access-token-for-arm-0001"


@dataclass
class FakeAzure:
    """The managed identity endpoint and ACR's exchange, with what each was asked."""

    refresh_token: str = field(default_factory=lambda: jwt.encode(
        {"exp": int(time.time()) + 3 * 3600, "grant_type": "refresh_token", "aud": HOST},
        "acr-test-signing-key-of-32-bytes-0001", algorithm="HS256"))
    identity_calls: list[dict[str, str]] = field(default_factory=list)
    exchanges: list[dict[str, str]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def identity(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        self.identity_calls.append(query)
        if headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
            self.violations.append("the managed identity request lacks X-IDENTITY-HEADER")
            return 401, {"error": "unauthorized"}
        if query.get("resource") != "https://management.azure.com" or query.get("api-version") != "2019-08-01":
            self.violations.append(f"managed identity asked for {query}")
            return 400, {"error": "invalid_resource"}
        return 200, {"access_token": ENTRA_TOKEN, "expires_on": str(int(time.time()) + 3600),
                     "resource": query["resource"], "token_type": "Bearer", "client_id": "test-client"}

    def exchange(self, form: dict[str, str]) -> tuple[int, Any]:
        self.exchanges.append(form)
        problems = [f"form field {name!r} is not in the description" for name in form if name not in EXCHANGE_FORM]
        problems += [f"required form field {name!r} is missing" for name, required in EXCHANGE_FORM.items()
                     if required and name not in form]
        if form.get("grant_type") not in GRANT_TYPES:
            problems.append(f"grant_type {form.get('grant_type')!r} is not one of {GRANT_TYPES}")
        if form.get("grant_type") == "access_token" and "access_token" not in form:
            problems.append("grant_type access_token without access_token")
        if problems:
            self.violations += problems
            return 400, {"errors": [{"code": "BAD_REQUEST", "message": "; ".join(problems)}]}
        if form != {"grant_type": "access_token", "service": HOST, "access_token": ENTRA_TOKEN}:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid access token"}]}
        return 200, {"refresh_token": self.refresh_token}


class AcrFront:
    """ACR's host: /oauth2/exchange answered here, everything else forwarded to the real registry."""

    def __init__(self, azure: FakeAzure, registry: RegistryServer) -> None:
        front = self
        self.azure = azure
        self.registry = registry

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/oauth2/exchange" and self.command == "POST":
                    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                    status, answer = front.azure.exchange(form)
                    data, headers = json.dumps(answer).encode(), [("Content-Type", "application/json")]
                else:
                    forwarded = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "accept")}
                    reply = httpx.request(self.command, f"http://{front.registry.host}{self.path}",
                                          headers=forwarded, content=body, trust_env=False)
                    status, data = reply.status_code, reply.content
                    headers = [(k, v) for k, v in reply.headers.multi_items()
                               if k.lower() not in ("content-length", "transfer-encoding", "connection")]
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_HEAD = do_POST = _any

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def acr_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with start_registry(tmp_path_factory.mktemp("acr"), auth="token", username=USERNAME,
                        password="set-by-the-test") as server:
        server.push_image("team/app", "3.0.0")
        yield server


@pytest.fixture
def azure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, acr_registry: RegistryServer) -> Iterator[AcrFront]:
    fake = FakeAzure()
    assert acr_registry.token_server is not None
    acr_registry.token_server.users[USERNAME] = fake.refresh_token
    with json_server(fake.identity) as url:
        for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
                     "AZURE_USERNAME", "MSI_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("IDENTITY_ENDPOINT", f"{url}/msi/token")
        monkeypatch.setenv("IDENTITY_HEADER", IDENTITY_HEADER)
        monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "az"))
        monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no az or azd CLI answers instead
        resolve_to_loopback(monkeypatch, ".azurecr.io")
        front = AcrFront(fake, acr_registry)
        LOGINS.clear()
        try:
            yield front
        finally:
            front.close()
            LOGINS.clear()
    assert not fake.violations, fake.violations


def _list(front: AcrFront, proxy: Proxy | None = None) -> list[str]:
    async def go() -> list[str]:
        async with RegistryClient() as client:
            ref = ImageReference.parse(f"{HOST}:{front.port}/team/app")
            return await client.list_tags(ref, AccessOptions(provider="azure", insecure=True, proxy=proxy))
    return asyncio.run(go())


def test_acr_login_through_managed_identity_and_the_exchange(azure: AcrFront) -> None:
    assert _list(azure) == ["3.0.0"]
    assert _list(azure) == ["3.0.0"]
    assert len(azure.azure.identity_calls) == 1 and len(azure.azure.exchanges) == 1 and LOGINS.logins == 1
    assert azure.registry.token_server is not None
    assert azure.registry.token_server.token_count(USERNAME) >= 1  # the refresh token logged in


def test_a_refused_exchange_is_a_clear_error(azure: AcrFront, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(azure.azure, "exchange", lambda form: (401, {"errors": [
        {"code": "UNAUTHORIZED", "message": "the identity has no AcrPull role"}]}))
    with pytest.raises(AuthError) as caught:
        _list(azure)
    message = str(caught.value)
    assert f"provider azure: http://{HOST}:{azure.port}/oauth2/exchange refused the Entra token (401)" in message
    assert "AcrPull" in message and ENTRA_TOKEN not in message


def test_the_exchange_goes_through_the_proxy_and_the_identity_endpoint_does_not(
        azure: AcrFront, squid: SquidProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = proxy_over_a_dead_environment(squid, monkeypatch)

    assert _list(azure, proxy) == ["3.0.0"]

    assert len(azure.azure.identity_calls) == 1 and len(azure.azure.exchanges) == 1
    exchanges = squid.requests_matching(lambda r: r.method == "POST")
    assert [(r.url, r.status, r.user) for r in exchanges] == \
        [(f"http://{HOST}:{azure.port}/oauth2/exchange", 200, squid.username)]
    # the managed identity endpoint is on the node: reached directly, neither through squid nor the environment's
    assert not [r for r in squid.requests() if "/msi/token" in r.url]
