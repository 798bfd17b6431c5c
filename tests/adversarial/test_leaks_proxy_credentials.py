"""A wrong proxy password (a real squid answering 407): a clear error naming the object, the proxy and
the status, and the password nowhere: not in the output, the logs, the state, the notifications."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from imagebot.delivery.git import Checkout, GitAuth, GitSource, deliver
from imagebot.proxy import parse_proxy
from tests.delivery.test_remotes import AUTHOR, bump, command_lines
from tests.proxy.test_proxy_run import setup
from tests.run.harness import Workspace, explain
from tests.support.gitremotes import HttpGitServer, http_git_server, isolated_git_home  # noqa: F401
from tests.support.proxy import SquidProxy, squid  # noqa: F401
from tests.support.registry import RegistryServer, start_registry
from tests.support.webhookreceiver import WebhookReceiver, webhook_receiver  # noqa: F401

WRONG = "wrong-Pr0xy-pass-7d1e"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with start_registry(tmp_path_factory.mktemp("proxy-leak-registry")) as server:
        yield server


@pytest.fixture
def workspace(tmp_path: Path, registry: RegistryServer, request: pytest.FixtureRequest,
              isolated_git_home: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:  # noqa: F811
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return Workspace.for_test(tmp_path, registry, request.node.name, "leak")


def _assert_nowhere(workspace: Workspace, texts: list[str]) -> None:
    for text in texts:
        assert WRONG not in text
    for path in workspace.root.rglob("*"):
        if path.is_file() and "secrets" not in path.parts:
            assert WRONG.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("bad", ["ImageRepository", "GitRepository", "Provider"])
def test_wrong_proxy_password_is_a_clear_error_without_the_password(
    bad: str, workspace: Workspace, http_git_server: HttpGitServer, squid: SquidProxy,  # noqa: F811
    webhook_receiver: Callable[..., WebhookReceiver],  # noqa: F811
) -> None:
    receiver = webhook_receiver("generic")
    workspace.secret("good-proxy", {"address": squid.url, "username": squid.username, "password": squid.password})
    workspace.secret("bad-proxy", {"address": squid.url, "username": squid.username, "password": WRONG})
    setup(workspace, http_git_server, receiver, f"leak-{bad.lower()}", "good-proxy")
    text = (workspace.config / "imagebot.yaml").read_text()
    # point the one object under test at the bad secret
    docs = text.split("---\n")
    docs = [d.replace('"good-proxy"', '"bad-proxy"') if f'"kind": "{bad}"' in d else d for d in docs]
    (workspace.config / "imagebot.yaml").write_text("---\n".join(docs))

    result = workspace.run()

    output = result.stdout + result.stderr
    proxy = f"proxy {squid.url} (spec.proxySecretRef, secret 'bad-proxy')"
    assert "407 Proxy Authentication Required" in output, explain(result)
    assert proxy in output, explain(result)
    assert "check username and password in secret 'bad-proxy'" in output
    # a failed notification is logged, and does not fail the run (as before); the others do
    assert (result.returncode != 0) == (bad != "Provider"), explain(result)
    statuses = {r.status for r in squid.requests()}
    assert 407 in statuses
    line = next(ln for ln in output.splitlines() if "407" in ln)
    if bad == "ImageRepository":
        assert line.startswith("ImageRepository flux-system/app: error: ")
        assert f"refused the request to {workspace.registry.host}" in line
    elif bad == "GitRepository":
        assert line.startswith("ImageUpdateAutomation flux-system/apps: failed: git clone http://127.0.0.1:")
        # the failure (kind git) is notified through the good proxy, without the password
        events = [r.json() for r in receiver.requests]
        failed = [e for e in events if e["severity"] == "error"]
        assert failed and "407" in failed[0]["message"] and proxy in failed[0]["message"]
    else:
        assert "generic provider flux-system/hook" in line
        assert receiver.requests == []
    _assert_nowhere(workspace, [output, *(r.body.decode("utf-8", "replace") for r in receiver.requests),
                                squid.log_text()])


def test_the_proxy_password_is_in_no_process_arguments(
    tmp_path: Path, http_git_server: HttpGitServer, squid: SquidProxy,  # noqa: F811
    isolated_git_home: Path,  # noqa: F811
) -> None:
    # git gets the proxy through its environment: snapshots of every command line taken while the git
    # server answers (git is running then) never hold the password
    remote = http_git_server.new_repo("proxy-ps.git")
    proxy = parse_proxy(squid.url, "test", squid.username, squid.password)
    seen: list[str] = []
    http_git_server.on_request = lambda: seen.extend(command_lines())
    try:
        auth = GitAuth(username=http_git_server.username, password=http_git_server.password)
        checkout = Checkout.prepare(tmp_path / "cache",
                                    GitSource(http_git_server.url_for(remote), "main", auth, proxy))
        deliver(checkout, apply=bump, message=lambda c: f"Update {c}", author=AUTHOR)
    finally:
        http_git_server.on_request = None
    assert [line for line in seen if "git" in line and "proxy-ps.git" in line]  # git was caught at work
    assert not [line for line in seen if squid.password in line]
    assert any("git-receive-pack" in r.url and r.status == 200 for r in squid.requests_to(http_git_server.port))


def test_a_wrong_password_in_https_proxy_is_named_and_hidden(
    workspace: Workspace, http_git_server: HttpGitServer, squid: SquidProxy,  # noqa: F811
    webhook_receiver: Callable[..., WebhookReceiver],  # noqa: F811
) -> None:
    receiver = webhook_receiver("generic")
    setup(workspace, http_git_server, receiver, "leak-env", None)
    wrong = f"http://{squid.username}:{WRONG}@127.0.0.1:{squid.port}"

    result = workspace.run(env={"HTTP_PROXY": wrong, "HTTPS_PROXY": wrong})

    output = result.stdout + result.stderr
    assert result.returncode != 0, explain(result)
    line = next(ln for ln in output.splitlines() if "407" in ln)
    assert line.startswith("ImageRepository flux-system/app: error: ")
    assert "the proxy (from HTTPS_PROXY/HTTP_PROXY) refused the request" in line
    assert {r.status for r in squid.requests_to(int(workspace.registry.host.rsplit(":", 1)[1]))} == {407}
    _assert_nowhere(workspace, [output, squid.log_text()])
