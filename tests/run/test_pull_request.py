"""Push branch + pull request: opened on the first run, updated (not duplicated) when a newer tag arrives."""

from __future__ import annotations

from tests.run.harness import Automation, Workspace, deployment, explain, helm_values
from tests.support.forgefakes import TOKEN, GitHubFake
from tests.support.gitremotes import BareRemote, HttpGitServer

PUSH_BRANCH = "imagebot/updates"


def forge_repository(workspace: Workspace, http_git_server: HttpGitServer, github_fake: GitHubFake,
                     files: dict[str, str]) -> tuple[BareRemote, str]:
    """A remote served at .../acme/NAME.git and known to the GitHub fake as acme/NAME: the URL says which."""
    path = f"acme/{workspace.prefix.rsplit('/', 1)[-1]}"
    github_fake.add_repository(path, branches={"main", PUSH_BRANCH})
    return http_git_server.new_repo(f"{path}.git", files), path


def test_pull_request_is_opened_then_updated(workspace: Workspace, http_git_server: HttpGitServer,
                                             github_fake: GitHubFake) -> None:
    app = workspace.image("app")
    files = {"apps/app.yaml": deployment("app", f"{app}:1.0.0"), "charts/app/values.yaml": helm_values(app, "1.0.0")}
    remote, path = forge_repository(workspace, http_git_server, github_fake, files)
    workspace.secret("git-http", {"username": http_git_server.username, "password": http_git_server.password})
    workspace.secret("github", {"token": TOKEN})
    workspace.push_tags("app", "1.0.0", "1.1.0")
    workspace.write_config(Automation(
        git_url=http_git_server.url_for(remote), git_secret="git-http",
        push={"branch": PUSH_BRANCH, "pullRequest": {
            "provider": "github", "url": github_fake.api_url, "secretRef": {"name": "github"},
            "labels": ["dependencies"], "reviewers": ["octocat"]}},
    ))
    main = remote.head()

    first = workspace.run()

    assert first.returncode == 0, explain(first)
    assert remote.head() == main  # the checkout branch is untouched
    pushed = remote.head(PUSH_BRANCH)
    assert remote.parents(pushed) == [main]
    assert f"{app}:1.1.0" in remote.read("apps/app.yaml", PUSH_BRANCH)
    [pull] = github_fake.repositories[path].pulls
    assert (pull.head, pull.base, pull.state) == (PUSH_BRANCH, "main", "open")
    assert pull.labels == ["dependencies"] and pull.reviewers == ["octocat"]
    assert "app 1.0.0 -> 1.1.0" in pull.title
    # the body lists every change by file and object
    body = pull.body
    assert "`apps/app.yaml`" in body and "`charts/app/values.yaml`" in body
    assert f"Deployment apps/app: `{app}:1.0.0` → `{app}:1.1.0`" in body
    assert "`1.0.0` → `1.1.0`" in body.split("`charts/app/values.yaml`", 1)[1]
    pr_url = f"{github_fake.url}/{path}/pull/{pull.number}"
    assert f"pull request: {pr_url}" in first.stdout
    [entry] = workspace.history()
    assert entry["pullRequest"] == pr_url and entry["branch"] == PUSH_BRANCH and entry["commit"] == pushed
    assert TOKEN not in first.stdout + first.stderr

    workspace.push_tags("app", "1.2.0")
    second = workspace.run()

    assert second.returncode == 0, explain(second)
    assert remote.head() == main
    repushed = remote.head(PUSH_BRANCH)
    assert repushed != pushed and remote.parents(repushed) == [main]  # reset to checkout + change
    assert f"{app}:1.2.0" in remote.read("apps/app.yaml", PUSH_BRANCH)
    assert [p.number for p in github_fake.repositories[path].pulls] == [pull.number]  # same PR
    assert f"`{app}:1.0.0` → `{app}:1.2.0`" in pull.body
    assert len(github_fake.calls("PATCH", f"/pulls/{pull.number}")) == 1
    history = workspace.history()
    assert [h["pullRequest"] for h in history] == [pr_url, pr_url]
    assert history[0]["commit"] == repushed

    calls = len(github_fake.requests)
    third = workspace.run()  # nothing new: the push branch already holds this change

    assert third.returncode == 0, explain(third)
    assert remote.head(PUSH_BRANCH) == repushed
    assert len(github_fake.requests) == calls  # the forge is left alone
    assert len(workspace.history()) == 2


def test_pull_request_left_undone_by_a_failing_forge_is_opened_next_run(
    workspace: Workspace, http_git_server: HttpGitServer, github_fake: GitHubFake
) -> None:
    app = workspace.image("app")
    remote, path = forge_repository(workspace, http_git_server, github_fake,
                                    {"apps/app.yaml": deployment("app", f"{app}:1.0.0")})
    workspace.secret("git-http", {"username": http_git_server.username, "password": http_git_server.password})
    workspace.secret("github", {"token": "revoked-token-value"})
    workspace.push_tags("app", "1.0.0", "1.1.0")
    workspace.write_config(Automation(
        git_url=http_git_server.url_for(remote), git_secret="git-http",
        push={"branch": PUSH_BRANCH, "pullRequest": {
            "provider": "github", "url": github_fake.api_url, "secretRef": {"name": "github"}}},
    ))

    first = workspace.run()

    assert first.returncode == 1, explain(first)
    pushed = remote.head(PUSH_BRANCH)
    assert f"pushed {pushed[:12]} to {PUSH_BRANCH}, then failed: pull request: GitHub" in first.stdout
    assert "revoked-token-value" not in first.stdout + first.stderr
    assert github_fake.repositories[path].pulls == []
    [entry] = workspace.history()
    assert entry["commit"] == pushed and entry["pullRequest"] is None

    workspace.secret("github", {"token": TOKEN})
    second = workspace.run()

    assert second.returncode == 0, explain(second)
    assert remote.head(PUSH_BRANCH) == pushed  # nothing pushed again
    [pull] = github_fake.repositories[path].pulls
    assert (pull.head, pull.base) == (PUSH_BRANCH, "main")
    assert workspace.history()[0]["pullRequest"] == f"{github_fake.url}/{path}/pull/{pull.number}"
