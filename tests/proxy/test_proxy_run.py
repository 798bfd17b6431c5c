"""`imagebot run --once` through a real forward proxy (Debian's squid, Basic auth): registry requests,
git over smart HTTP and notifications each go through it, by Flux's `spec.proxySecretRef` or by the
standard HTTPS_PROXY/HTTP_PROXY/NO_PROXY environment. squid's access log proves the way taken."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.run.harness import Automation, Workspace, deployment, explain
from tests.support.forgefakes import TOKEN, GitHubFake
from tests.support.gitremotes import HttpGitServer, make_bare_repo
from tests.support.proxy import SquidProxy
from tests.support.registry import RegistryServer
from tests.support.webhookreceiver import WebhookReceiver

NOTIFICATION = "notification.toolkit.fluxcd.io/v1beta3"


def _port(url: str) -> int:
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def setup(workspace: Workspace, git: HttpGitServer, receiver: WebhookReceiver, name: str,
          proxy_secret: str | None) -> tuple[str, Any]:
    """An ImageRepository, a GitRepository on smart HTTP and a generic Provider, each with
    `proxySecretRef: proxy_secret` when one is given."""
    app = workspace.image("app")
    remote = git.new_repo(f"{name}.git", {"app.yaml": deployment("app", f"{app}:1.0.0")})
    workspace.push_tags("app", "1.0.0", "1.6.0")
    workspace.secret("git-auth", {"username": git.username, "password": git.password})
    workspace.secret("webhook", {"address": receiver.url("/flux")})
    proxied = {"proxySecretRef": {"name": proxy_secret}} if proxy_secret else {}
    automation = Automation(git_url=git.url_for(remote), git_secret="git-auth")
    docs = automation.documents()
    docs[0]["spec"].update(proxied)
    workspace.write_config(images=(), extra=[
        {"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
         "metadata": {"name": "app", "namespace": "flux-system"},
         "spec": {"image": app, "interval": "5m", "insecure": True, **proxied}},
        {"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
         "metadata": {"name": "app", "namespace": "flux-system"},
         "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}}},
        *docs,
        {"apiVersion": NOTIFICATION, "kind": "Provider", "metadata": {"name": "hook", "namespace": "flux-system"},
         "spec": {"type": "generic", "secretRef": {"name": "webhook"}, **proxied}},
        {"apiVersion": NOTIFICATION, "kind": "Alert", "metadata": {"name": "all", "namespace": "flux-system"},
         "spec": {"providerRef": {"name": "hook"}, "eventSeverity": "info",
                  "eventSources": [{"kind": "ImageUpdateAutomation", "name": "*"},
                                   {"kind": "ImageRepository", "name": "*"}]}},
    ])
    return app, remote


def test_registry_git_and_notifications_go_through_the_proxy_secret(
    workspace: Workspace, http_git_server: HttpGitServer, registry: RegistryServer, squid: SquidProxy,
    webhook_receiver: Callable[..., WebhookReceiver],
) -> None:
    receiver = webhook_receiver("generic")
    workspace.secret("corp-proxy", {"address": squid.url, "username": squid.username, "password": squid.password})
    app, remote = setup(workspace, http_git_server, receiver, "via-secret", "corp-proxy")

    result = workspace.run()

    assert result.returncode == 0, explain(result) + squid.log_text()
    assert f"{app}:1.6.0" in remote.read("app.yaml")
    [event] = receiver.requests
    assert event.json()["metadata"]["commit"] == remote.head()
    registry_port = _port(registry.url)
    tags = [r for r in squid.requests_to(registry_port) if r.url.endswith("/tags/list")]
    assert tags and all(r.status == 200 and r.user == squid.username for r in tags)
    git_requests = squid.requests_to(http_git_server.port)
    assert any("git-upload-pack" in r.url and r.method == "POST" for r in git_requests)  # clone
    assert any("git-receive-pack" in r.url and r.method == "POST" and r.status == 200 for r in git_requests)  # push
    assert all(r.user == squid.username for r in git_requests if r.status == 200)
    posts = [r for r in squid.requests_to(_port(receiver.url())) if r.method == "POST"]
    assert [(r.status, r.user) for r in posts] == [(200, squid.username)]
    # the proxy password went to git through its environment only: never in a file imagebot wrote
    for path in workspace.state.rglob("*"):
        if path.is_file():
            assert squid.password.encode() not in path.read_bytes(), path


def test_environment_proxy_carries_everything_and_no_proxy_bypasses_it(
    workspace: Workspace, http_git_server: HttpGitServer, registry: RegistryServer, squid: SquidProxy,
    webhook_receiver: Callable[..., WebhookReceiver], tmp_path: Path,
) -> None:
    receiver = webhook_receiver("generic")
    app, remote = setup(workspace, http_git_server, receiver, "via-env", None)
    # Upper case only: curl (git) reads http_proxy in lower case alone; imagebot gives git the same meaning
    # httpx gives the variables, so nothing takes another way out.
    env = {"HTTP_PROXY": squid.url_with_credentials, "HTTPS_PROXY": squid.url_with_credentials}

    result = workspace.run(env=env)

    assert result.returncode == 0, explain(result) + squid.log_text()
    assert f"{app}:1.6.0" in remote.read("app.yaml")
    assert any(r.url.endswith("/tags/list") for r in squid.requests_to(_port(registry.url)))
    assert any("git-receive-pack" in r.url for r in squid.requests_to(http_git_server.port))
    assert [r.method for r in squid.requests_to(_port(receiver.url()))] == ["POST"]
    assert squid.password not in result.stdout + result.stderr

    # NO_PROXY: the same run against a new commit goes straight to every server
    seen = len(squid.requests())
    workspace.push_tags("app", "1.7.0")
    result = workspace.run(env={**env, "NO_PROXY": "127.0.0.1"})

    assert result.returncode == 0, explain(result)
    assert f"{app}:1.7.0" in remote.read("app.yaml")
    assert len(receiver.requests) == 2
    assert squid.requests()[seen:] == []


def test_proxy_secret_wins_over_the_environment_and_no_proxy(
    workspace: Workspace, http_git_server: HttpGitServer, registry: RegistryServer, squid: SquidProxy,
    webhook_receiver: Callable[..., WebhookReceiver],
) -> None:
    # As Flux's http.ProxyURL: an object's own proxy is used for all of its requests.
    receiver = webhook_receiver("generic")
    workspace.secret("corp-proxy", {"address": squid.url, "username": squid.username, "password": squid.password})
    app, remote = setup(workspace, http_git_server, receiver, "secret-wins", "corp-proxy")

    result = workspace.run(env={"HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost"})

    assert result.returncode == 0, explain(result)
    assert f"{app}:1.6.0" in remote.read("app.yaml")
    assert squid.requests_to(_port(registry.url)) and squid.requests_to(http_git_server.port)
    assert squid.requests_to(_port(receiver.url()))


def test_the_pull_request_api_goes_through_the_git_repositorys_proxy(
    workspace: Workspace, http_git_server: HttpGitServer, squid: SquidProxy, github_fake: GitHubFake,
) -> None:
    app = workspace.image("app")
    path = "acme/proxied-pulls"
    github_fake.add_repository(path, branches={"main", "imagebot/updates"})
    remote = http_git_server.new_repo(f"{path}.git", {"app.yaml": deployment("app", f"{app}:1.0.0")})
    workspace.push_tags("app", "1.0.0", "1.1.0")
    workspace.secret("git-http", {"username": http_git_server.username, "password": http_git_server.password})
    workspace.secret("github", {"token": TOKEN})
    workspace.secret("corp-proxy", {"address": squid.url, "username": squid.username, "password": squid.password})
    automation = Automation(git_url=http_git_server.url_for(remote), git_secret="git-http", push={
        "branch": "imagebot/updates",
        "pullRequest": {"provider": "github", "url": github_fake.api_url, "secretRef": {"name": "github"}}})
    docs = automation.documents()
    docs[0]["spec"]["proxySecretRef"] = {"name": "corp-proxy"}
    workspace.write_config(extra=docs)

    result = workspace.run()

    assert result.returncode == 0, explain(result)
    [pull] = github_fake.repositories[path].pulls
    assert pull.head == "imagebot/updates"
    api = squid.requests_to(_port(github_fake.api_url))
    assert any(r.method == "POST" and r.url.endswith(f"/repos/{path}/pulls") and r.status == 201 for r in api), api
    assert all(r.user == squid.username for r in api if r.status < 400)


def _notify_only(workspace: Workspace, tmp_path: Path, receiver: WebhookReceiver, provider_spec: dict[str, Any],
                 ) -> None:
    app = workspace.image("app")
    remote = make_bare_repo(tmp_path / "remote.git", {"app.yaml": deployment("app", f"{app}:1.0.0")})
    workspace.push_tags("app", "1.0.0", "1.6.0")
    workspace.secret("webhook", {"address": receiver.url("/flux")})
    workspace.write_config(Automation(git_url=str(remote.path)), extra=[
        {"apiVersion": NOTIFICATION, "kind": "Provider", "metadata": {"name": "hook", "namespace": "flux-system"},
         "spec": {"type": "generic", "secretRef": {"name": "webhook"}, **provider_spec}},
        {"apiVersion": NOTIFICATION, "kind": "Alert", "metadata": {"name": "all", "namespace": "flux-system"},
         "spec": {"providerRef": {"name": "hook"}, "eventSeverity": "info",
                  "eventSources": [{"kind": "ImageUpdateAutomation", "name": "*"}]}},
    ])


def test_provider_spec_proxy_deprecated_in_flux_still_works(
    workspace: Workspace, squid: SquidProxy, webhook_receiver: Callable[..., WebhookReceiver], tmp_path: Path,
) -> None:
    receiver = webhook_receiver("generic")
    _notify_only(workspace, tmp_path, receiver, {"proxy": squid.url_with_credentials})

    result = workspace.run()

    assert result.returncode == 0, explain(result)
    assert len(receiver.requests) == 1
    assert [(r.method, r.user) for r in squid.requests_to(_port(receiver.url()))] == [("POST", squid.username)]
    assert squid.password not in result.stdout + result.stderr


def test_provider_proxy_secret_ref_wins_over_spec_proxy(
    workspace: Workspace, squid: SquidProxy, webhook_receiver: Callable[..., WebhookReceiver], tmp_path: Path,
) -> None:
    # Flux's notification-controller applies spec.proxy, then proxySecretRef: the latter wins
    receiver = webhook_receiver("generic")
    workspace.secret("corp-proxy", {"address": squid.url, "username": squid.username, "password": squid.password})
    _notify_only(workspace, tmp_path, receiver,
                 {"proxy": "http://127.0.0.1:9", "proxySecretRef": {"name": "corp-proxy"}})

    result = workspace.run()

    assert result.returncode == 0, explain(result)
    assert len(receiver.requests) == 1
    assert [r.method for r in squid.requests_to(_port(receiver.url()))] == ["POST"]
