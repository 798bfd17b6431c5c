"""The delivery path end to end on the forges beyond GitHub: a real git remote whose URL has the
forge's shape, `imagebot run` pushing to the push branch, and the forge's fake (checked against its
published API description) receiving the pull request, opened on the first run and updated on the
next. The secret keys are the ones Flux's Provider of that type reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.run.harness import Automation, Workspace, deployment, explain
from tests.support.forgefakes import TOKEN, FakeForge
from tests.support.gitremotes import BareRemote, HttpGitServer
from tests.support.moreforges import (  # noqa: F401
    ACCESS_TOKEN,
    ALICE,
    APP_PASSWORD,
    BB_USER,
    PAT,
    REVIEWER_ID,
    azuredevops_fake,
    bitbucket_fake,
    bitbucketserver_fake,
    forgejo_fake,
)

PUSH_BRANCH = "imagebot/updates"


@dataclass
class Case:
    provider: str
    remote_path: str  # under the git server, in the forge's URL shape; NAME is the test's repository
    fake_path: str  # the repository as the fake knows it
    api: str  # the pull request `url`, after the fake's URL
    secret: dict[str, str]
    settings: dict[str, Any]
    pr_url: str  # after the fake's URL


CASES = {
    "forgejo": Case("forgejo", "acme/NAME.git", "acme/NAME", "/api/v1", {"token": TOKEN},
                    {"labels": ["dependencies"], "reviewers": ["alice"]}, "/acme/NAME/pulls/{n}"),
    "bitbucket": Case("bitbucket", "acme/NAME.git", "acme/NAME", "/2.0", {"token": f"{BB_USER}:{APP_PASSWORD}"},
                      {"reviewers": [ALICE]}, "/acme/NAME/pull-requests/{n}"),
    "bitbucketserver": Case("bitbucketserver", "scm/PLAT/NAME.git", "PLAT/NAME", "/rest",
                            {"username": BB_USER, "password": "dc-pa55word"}, {"reviewers": ["alice"]},
                            "/projects/PLAT/repos/NAME/pull-requests/{n}"),
    "azuredevops": Case("azuredevops", "acme/Platform/_git/NAME", "acme/Platform/NAME", "/acme", {"token": PAT},
                        {"labels": ["dependencies"], "reviewers": [REVIEWER_ID]},
                        "/acme/Platform/_git/NAME/pullrequest/{n}"),
}


@pytest.mark.parametrize("provider", sorted(CASES))
def test_opened_then_updated_on(
    provider: str, workspace: Workspace, http_git_server: HttpGitServer, request: pytest.FixtureRequest
) -> None:
    case = CASES[provider]
    fake: FakeForge = request.getfixturevalue(f"{provider}_fake")
    name = f"deploy-{provider}"
    remote: BareRemote = http_git_server.new_repo(case.remote_path.replace("NAME", name), {
        "apps/app.yaml": deployment("app", f"{workspace.image('app')}:1.0.0")})
    fake_path = case.fake_path.replace("NAME", name)
    fake.add_repository(fake_path, branches={"main", PUSH_BRANCH}, labels={"dependencies": 3})
    app = workspace.image("app")
    workspace.secret("git-http", {"username": http_git_server.username, "password": http_git_server.password})
    workspace.secret("forge", case.secret)
    workspace.push_tags("app", "1.0.0", "1.1.0")
    workspace.write_config(Automation(
        git_url=http_git_server.url_for(remote), git_secret="git-http",
        push={"branch": PUSH_BRANCH, "pullRequest": {
            "provider": provider, "url": fake.url + case.api, "secretRef": {"name": "forge"}, **case.settings}},
    ))
    main = remote.head()

    first = workspace.run()

    assert first.returncode == 0, explain(first)
    assert remote.head() == main and f"{app}:1.1.0" in remote.read("apps/app.yaml", PUSH_BRANCH)
    [pull] = fake.repositories[fake_path].pulls
    assert (pull.head, pull.base, pull.state) == (PUSH_BRANCH, "main", "open")
    assert "app 1.0.0 -> 1.1.0" in pull.title
    assert f"Deployment apps/app: `{app}:1.0.0` → `{app}:1.1.0`" in pull.body  # the body every forge gets
    assert pull.labels == case.settings.get("labels", [])
    assert pull.reviewers == case.settings["reviewers"]
    pr_url = fake.url + case.pr_url.replace("NAME", name).replace("{n}", str(pull.number))
    assert f"pull request: {pr_url}" in first.stdout
    [entry] = workspace.history()
    assert entry["pullRequest"] == pr_url
    for key, secret in case.secret.items():
        if key != "username":
            assert secret.rsplit(":", 1)[-1] not in first.stdout + first.stderr, key

    workspace.push_tags("app", "1.2.0")
    second = workspace.run()

    assert second.returncode == 0, explain(second)
    assert [p.number for p in fake.repositories[fake_path].pulls] == [pull.number]  # the same pull request
    assert f"`{app}:1.0.0` → `{app}:1.2.0`" in pull.body
    assert pull.reviewers == case.settings["reviewers"]  # kept through the update
    assert [h["pullRequest"] for h in workspace.history()] == [pr_url, pr_url]
