"""The registry client through squid over HTTPS (CONNECT tunnels), and the proxy address rules."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import pytest

from imagebot.delivery.git import Checkout, GitAuth, GitError, GitSource
from imagebot.proxy import ProxyConfigError, for_git, git_env_proxies, parse_proxy
from imagebot.redact import scrub
from imagebot.registry import AuthError, ImageReference, RegistryClient
from tests.support.gitremotes import HttpGitServer
from tests.support.proxy import SquidProxy, start_squid
from tests.support.registry import RegistryServer


def _list(server: RegistryServer, repository: str, **options: object) -> list[str]:
    async def go() -> list[str]:
        async with RegistryClient(retries=0) as client:
            return await client.list_tags(ImageReference.parse(server.image(repository)),
                                          server.access_options(**options))
    return asyncio.run(go())


def test_tls_registry_is_reached_through_a_connect_tunnel(tls_registry: RegistryServer, squid: SquidProxy) -> None:
    tls_registry.push_image("proxy/tunnel", "1.0.0")
    proxy = parse_proxy(squid.url, "test", squid.username, squid.password)

    assert _list(tls_registry, "proxy/tunnel", proxy=proxy) == ["1.0.0"]

    [tunnel] = squid.requests_matching(lambda r: r.method == "CONNECT")
    assert (tunnel.url, tunnel.status, tunnel.user) == (tls_registry.host, 200, squid.username)


def test_a_refused_connect_names_the_proxy_and_the_secret(tls_registry: RegistryServer, squid: SquidProxy) -> None:
    tls_registry.push_image("proxy/refused", "1.0.0")
    proxy = parse_proxy(squid.url, "spec.proxySecretRef, secret 'corp-proxy'", squid.username, "not-the-Pa55word",
                        "corp-proxy")

    with pytest.raises(AuthError) as caught:
        _list(tls_registry, "proxy/refused", proxy=proxy)

    text = str(caught.value)
    assert f"the proxy {squid.url} (spec.proxySecretRef, secret 'corp-proxy') refused the request to " \
           f"{tls_registry.host}: 407 Proxy Authentication Required" in text
    assert "not-the-Pa55word" not in text
    # one CONNECT, refused: a 407 is not retried
    assert [(r.method, r.status) for r in squid.requests_to(int(tls_registry.host.rsplit(":", 1)[1]))] == \
        [("CONNECT", 407)]


@pytest.mark.parametrize(("address", "problem"), [
    ("", "the proxy address is empty"),
    ("socks5://127.0.0.1:1080", "must start with http:// or https:// (got socks5://)"),
    ("127.0.0.1:3128", "must start with http:// or https://"),
    ("http://127.0.0.1:3128/path", "without a path"),
    ("http://", "has no host"),
    ("http://127.0.0.1:99999", "is not a URL"),
    ("http://" + "a" * 2050, "longer than 2048 characters"),
])
def test_proxy_addresses_that_cannot_work_are_refused(address: str, problem: str) -> None:
    with pytest.raises(ProxyConfigError, match=r"^secret 'p': ") as caught:
        parse_proxy(address, "secret 'p'")
    assert problem in str(caught.value)


def test_credentials_in_the_address_are_split_off_and_hidden() -> None:
    proxy = parse_proxy("http://us%40er:p%3Ass-W0rd-in-url@proxy.example:3128", "test")

    assert (proxy.address, proxy.username, proxy.password) == ("http://proxy.example:3128", "us@er", "p:ss-W0rd-in-url")
    assert proxy.url == "http://us%40er@proxy.example:3128"  # git's: the password comes from a helper
    assert "W0rd" not in repr(proxy)
    assert scrub("proxy said p:ss-W0rd-in-url") == "proxy said ***"


def test_git_gets_the_environment_in_the_meaning_httpx_gives_it() -> None:
    env = git_env_proxies({"HTTP_PROXY": "http://u:env-Secret-1@p:1", "NO_PROXY": "internal", "https_proxy": "x"})

    # curl reads http_proxy in lower case only; httpx reads both
    assert env["http_proxy"] == "http://u:env-Secret-1@p:1"
    assert env["no_proxy"] == env["NO_PROXY"] == "internal"
    assert env["https_proxy"] == "x"
    assert scrub("env-Secret-1") == "***"


def test_a_percent_sign_in_the_password_is_refused_for_git_alone(
    tmp_path: Path, plain_registry: RegistryServer,
) -> None:
    # git 2.39 URL-decodes proxy passwords (a different number of times across its requests)
    proxy = parse_proxy("http://127.0.0.1:3128", "spec.proxySecretRef, secret 'corp-proxy'", "u", "50%off-Pa55")
    with pytest.raises(ProxyConfigError, match="contains '%', which git cannot pass on to a proxy intact") as caught:
        for_git(proxy)
    assert "secret 'corp-proxy'" in str(caught.value) and "50%off" not in str(caught.value)
    assert for_git(parse_proxy("http://127.0.0.1:3128", "x", "u", "no-percent")).password == "no-percent"


def test_a_password_with_url_characters_works_for_git_and_the_registry(
    tmp_path: Path, plain_registry: RegistryServer, http_git_server: HttpGitServer,
) -> None:
    # git gets the password from a credential helper, httpx as a pair: both must log in
    password = "p@ss:w/rd #?&x+=;'\"$(echo)`"
    folder = Path(tempfile.mkdtemp(prefix="ib-squid-"))
    try:
        with start_squid(folder, password=password) as squid:
            proxy = parse_proxy(squid.url, "test", squid.username, squid.password)
            plain_registry.push_image("proxy/odd-password", "1.0.0")
            assert _list(plain_registry, "proxy/odd-password", proxy=proxy) == ["1.0.0"]
            remote = http_git_server.new_repo("odd-password.git")
            auth = GitAuth(username=http_git_server.username, password=http_git_server.password)
            checkout = Checkout.prepare(tmp_path / "cache",
                                        GitSource(http_git_server.url_for(remote), "main", auth, proxy))
            assert checkout.head == remote.head()
            assert {r.user for r in squid.requests_to(http_git_server.port) if r.status != 407} == {squid.username}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_an_environment_proxy_with_a_user_but_no_password_never_gets_the_git_password(
    tmp_path: Path, http_git_server: HttpGitServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # git would ask GIT_ASKPASS for the proxy's password, and imagebot's askpass answers with the git
    # server's. A proxy whose password is the git server's would then let git in: it must refuse it.
    folder = Path(tempfile.mkdtemp(prefix="ib-squid-"))
    try:
        with start_squid(folder, password=http_git_server.password) as squid:
            monkeypatch.setenv("HTTP_PROXY", f"http://{squid.username}@127.0.0.1:{squid.port}")
            remote = http_git_server.new_repo("env-user-only.git")
            auth = GitAuth(username=http_git_server.username, password=http_git_server.password)

            with pytest.raises(GitError, match="407 Proxy Authentication Required"):
                Checkout.prepare(tmp_path / "cache", GitSource(http_git_server.url_for(remote), "main", auth))

            assert {r.status for r in squid.requests_to(http_git_server.port)} == {407}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
