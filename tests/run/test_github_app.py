"""GitRepository provider: github: a GitHub App's installation token clones, pushes and opens the pull
request, with no personal token anywhere; the remote accepts only the installation token."""

from __future__ import annotations

import base64
import time
from pathlib import Path

from tests.forges.test_github_app import APP_ID, INSTALLATION, PRIVATE, PUBLIC
from tests.run.harness import Automation, Workspace, deployment, explain
from tests.support.forgefakes import GitHubAppFake
from tests.support.gitremotes import HttpGitServer

PUSH_BRANCH = "imagebot/updates"


def test_a_github_app_clones_pushes_and_opens_the_pull_request(workspace: Workspace, tmp_path: Path) -> None:
    fake = GitHubAppFake(APP_ID, PUBLIC, {INSTALLATION: "acme"})
    path = "acme/" + workspace.prefix.rsplit("/", 1)[-1]
    fake.add_repository(path, branches={"main", PUSH_BRANCH})

    def installation_token_only(header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == "x-access-token" and fake.issued.get(password, 0) > time.time()

    git = HttpGitServer(tmp_path / "git", accepts=installation_token_only)
    git.start()
    app = workspace.image("app")
    remote = git.new_repo(f"{path}.git", {"apps/app.yaml": deployment("app", f"{app}:1.0.0")})
    workspace.push_tags("app", "1.0.0", "1.1.0")
    with fake.serve():
        workspace.secret("github-app", {"githubAppID": str(APP_ID), "githubAppInstallationID": str(INSTALLATION),
                                        "githubAppPrivateKey": PRIVATE.decode(), "githubAppBaseURL": fake.api_url})
        workspace.write_config(Automation(
            git_url=git.url_for(remote), git_secret="github-app", source_extra={"provider": "github"},
            push={"branch": PUSH_BRANCH, "pullRequest": {"provider": "github", "url": fake.api_url,
                                                         "secretRef": {"name": "github-app"}}},
        ))
        try:
            result = workspace.run()
        finally:
            git.stop()

    assert result.returncode == 0, explain(result)
    assert f"{app}:1.1.0" in remote.read("apps/app.yaml", PUSH_BRANCH)
    [pull] = fake.repositories[path].pulls
    assert (pull.head, pull.base) == (PUSH_BRANCH, "main")
    # one exchange served the clone, the push and the pull request API
    assert len(fake.calls("POST", f"/app/installations/{INSTALLATION}/access_tokens")) == 1
    [token] = fake.issued
    pr_calls = [r for r in fake.requests if r.path.startswith(f"/repos/{path}/")]
    assert pr_calls and all(r.headers["authorization"] == f"Bearer {token}" for r in pr_calls)
    assert any(r.user for r in git.requests if r.method == "POST" and r.path.endswith("git-receive-pack"))
    shown = result.stdout + result.stderr
    assert token not in shown and PRIVATE.decode().splitlines()[2] not in shown
    assert not fake.violations, fake.violations


def test_a_wrong_app_key_fails_the_automation_naming_the_secret(workspace: Workspace, tmp_path: Path) -> None:
    from tests.forges.test_github_app import _key

    fake = GitHubAppFake(APP_ID, PUBLIC, {INSTALLATION: "acme"})
    other, _ = _key()
    with fake.serve():
        workspace.secret("github-app", {"githubAppID": str(APP_ID), "githubAppInstallationID": str(INSTALLATION),
                                        "githubAppPrivateKey": other.decode(), "githubAppBaseURL": fake.api_url})
        workspace.write_config(Automation(git_url="http://127.0.0.1:9/acme/none.git", git_secret="github-app",
                                          source_extra={"provider": "github"}))
        result = workspace.run()

    assert result.returncode != 0
    shown = result.stdout + result.stderr
    assert "secret 'github-app' key 'githubAppPrivateKey'" in shown, explain(result)
    assert other.decode().splitlines()[2] not in shown
