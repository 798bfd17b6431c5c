"""Release information from OCI source labels: the pull request body, the commit message template
data and the Slack message carry the source link, a compare link and the new version's release
notes, read from a real registry and a GitHub fake checked against GitHub's published description."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.run.harness import Automation, Workspace, deployment, explain
from tests.support.forgefakes import TOKEN, FakeRelease, GitHubFake
from tests.support.gitremotes import HttpGitServer
from tests.support.labelled import push_labelled
from tests.support.webhookreceiver import WebhookReceiver

PUSH_BRANCH = "imagebot/updates"
OLD_SHA = "1111111111111111111111111111111111111111"
NEW_SHA = "2222222222222222222222222222222222222222"


NOTES = (
    "## What's changed\n"
    "* Faster start-up by @octocat in #41\n"
    "* <script>alert(1)</script> is text here & stays text\n"
)


def test_pull_request_commit_and_slack_carry_release_information(
    workspace: Workspace, http_git_server: HttpGitServer, github_fake: GitHubFake,
    webhook_receiver: Callable[..., WebhookReceiver],
) -> None:
    slack = webhook_receiver("slack")
    app = workspace.image("app")
    path = f"acme/{workspace.prefix.rsplit('/', 1)[-1]}"
    github_fake.add_repository(path, branches={"main", PUSH_BRANCH})
    source = github_fake.add_repository("acme/app-source", branches={"main"})
    source.releases["v1.1.0"] = FakeRelease("v1.1.0", "App 1.1.0", NOTES)
    remote = http_git_server.new_repo(f"{path}.git", {"apps/app.yaml": deployment("app", f"{app}:1.0.0")})
    repository = f"{workspace.prefix}/app"
    # the old image labels its revision in the config; the new one annotates an index (the OCI way)
    push_labelled(workspace.registry, repository, "1.0.0", labels={
        "org.opencontainers.image.source": f"{github_fake.url}/acme/app-source",
        "org.opencontainers.image.revision": OLD_SHA, "org.opencontainers.image.version": "1.0.0"})
    push_labelled(workspace.registry, repository, "1.1.0", index=True, annotations={
        "org.opencontainers.image.source": f"{github_fake.url}/acme/app-source.git",
        "org.opencontainers.image.revision": NEW_SHA, "org.opencontainers.image.version": "1.1.0",
        "org.opencontainers.image.url": "https://example.com/app"})
    workspace.secret("git-http", {"username": http_git_server.username, "password": http_git_server.password})
    workspace.secret("github", {"token": TOKEN})
    template = ("Update app\n\n{% for c in Changed.Changes %}{{ c.OldValue }} -> {{ c.NewValue }}\n"
                "Source: {{ c.Release.Source }}\nCompare: {{ c.Release.Compare }}\n"
                "{% if c.Release.Notes %}Notes: {{ c.Release.Notes.Title }}\n{% endif %}{% endfor %}")
    workspace.write_config(Automation(
        git_url=http_git_server.url_for(remote), git_secret="git-http", commit_extra={"messageTemplate": template},
        push={"branch": PUSH_BRANCH, "pullRequest": {
            "provider": "github", "url": github_fake.api_url, "secretRef": {"name": "github"}}},
    ), extra=workspace.alerting("slack", "slack", slack.url("/services/T0/B0/X")))

    result = workspace.run()

    assert result.returncode == 0, explain(result)
    compare = f"{github_fake.url}/acme/app-source/compare/{OLD_SHA}...{NEW_SHA}"
    release_page = f"{github_fake.url}/acme/app-source/releases/tag/v1.1.0"
    # the commit message template sees Changed.Changes[].Release
    message = remote.message(remote.head(PUSH_BRANCH))
    assert f"Source: {github_fake.url}/acme/app-source\n" in message
    assert f"Compare: {compare}\n" in message
    assert "Notes: App 1.1.0\n" in message

    [pull] = github_fake.repositories[path].pulls
    body = pull.body
    assert f"[source]({github_fake.url}/acme/app-source)" in body
    assert f"[compare]({compare})" in body and f"[release]({release_page})" in body
    assert "[image](https://example.com/app)" in body
    assert "> ## What's changed" in body
    assert "by @\u200boctocat in #41" in body, "a quoted @mention must not notify anyone"
    assert len(body) <= 65_536
    # the notes were asked for as 1.1.0, then v1.1.0 (404 first), with the pull request's token
    asked = [r for r in github_fake.requests if "/releases/tags/" in r.path]
    assert [r.path for r in asked] == ["/repos/acme/app-source/releases/tags/1.1.0",
                                       "/repos/acme/app-source/releases/tags/v1.1.0"]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in asked)

    [received] = slack.requests
    assert received.errors == [], "the message must be valid Block Kit"
    text = json.dumps(received.json())
    assert f"<{compare}|compare>" in text and f"<{release_page}|release notes>" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; is text here &amp; stays text" in text
    assert "<script>" not in text
    assert TOKEN not in result.stdout + result.stderr + message + text


def test_missing_release_rate_limit_and_unlabelled_images_are_quiet(
    workspace: Workspace, http_git_server: HttpGitServer, github_fake: GitHubFake,
) -> None:
    app, web = workspace.image("app"), workspace.image("web")
    path = f"acme/{workspace.prefix.rsplit('/', 1)[-1]}"
    github_fake.add_repository(path, branches={"main", PUSH_BRANCH})
    github_fake.add_repository("acme/app-source", branches={"main"})  # no releases: 404
    remote = http_git_server.new_repo(f"{path}.git", {"apps/app.yaml": deployment("app", f"{app}:1.0.0"),
                                                      "apps/web.yaml": deployment("web", f"{web}:2.0.0")})
    label = {"org.opencontainers.image.source": f"{github_fake.url}/acme/app-source"}
    push_labelled(workspace.registry, f"{workspace.prefix}/app", "1.0.0", labels=label)
    push_labelled(workspace.registry, f"{workspace.prefix}/app", "1.1.0", labels=label)
    workspace.push_tags("web", "2.0.0", "2.1.0")  # no labels at all
    workspace.secret("git-http", {"username": http_git_server.username, "password": http_git_server.password})
    workspace.secret("github", {"token": TOKEN})
    workspace.write_config(Automation(
        git_url=http_git_server.url_for(remote), git_secret="git-http",
        push={"branch": PUSH_BRANCH, "pullRequest": {
            "provider": "github", "url": github_fake.api_url, "secretRef": {"name": "github"}}},
    ), images=("app", "web"))

    first = workspace.run()

    assert first.returncode == 0, explain(first)
    [pull] = github_fake.repositories[path].pulls
    assert f"[source]({github_fake.url}/acme/app-source)" in pull.body
    assert "[compare]" not in pull.body, "no revisions or versions: nothing to compare"
    assert "Release notes" not in pull.body and pull.body.count("### Release:") == 1  # web has no labels

    # a rate-limited forge: the pull request is still updated, without notes, and the run succeeds
    push_labelled(workspace.registry, f"{workspace.prefix}/app", "1.2.0", labels=label)
    github_fake.rate_limited = "/releases/"
    try:
        second = workspace.run()
    finally:
        github_fake.rate_limited = ""
    assert second.returncode == 0, explain(second)
    assert "API rate limit" not in second.stdout + second.stderr
    assert any(r.path.endswith("/releases/tags/1.2.0") for r in github_fake.requests), "the notes were asked for"
    assert f"`{app}:1.0.0` → `{app}:1.2.0`" in pull.body
    assert "[source]" in pull.body and "Release notes" not in pull.body
