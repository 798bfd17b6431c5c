"""A GitHub App's token exchange goes through the GitRepository's proxySecretRef, as git and the pull
request API do: behind a proxy that is the only way out, the app's JWT must reach GitHub through it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from imagebot.delivery.githubapp import GitHubApp, InstallationTokens
from imagebot.proxy import Proxy
from tests.forges.test_github_app import APP_ID, INSTALLATION, PUBLIC, app_secret
from tests.support.forgefakes import GitHubAppFake
from tests.support.proxy import SquidProxy


def test_the_installation_token_is_fetched_through_the_proxy(tmp_path: Path, squid: SquidProxy) -> None:
    fake = GitHubAppFake(APP_ID, PUBLIC, {INSTALLATION: "acme"})
    with fake.serve():
        app = GitHubApp.from_secret(app_secret(tmp_path, fake), "github-app")
        proxy = Proxy(squid.url, squid.username, squid.password, source="spec.proxySecretRef, secret 'corp'")

        token = InstallationTokens().token(app, proxy=proxy)

    assert token and not fake.violations, fake.violations
    port = urlsplit(fake.api_url).port
    assert port is not None
    through = squid.requests_to(port)
    assert any(r.method == "POST" and r.url.endswith(f"/app/installations/{INSTALLATION}/access_tokens")
               and r.status == 201 and r.user == squid.username for r in through), through
