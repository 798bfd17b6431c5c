"""Commit pages on every forge imagebot opens pull requests on, from the clone URLs each forge hands out."""

from __future__ import annotations

import pytest

from imagebot.service.ui.links import commit_url

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(("clone_url", "provider", "page"), [
    ("https://github.com/acme/fleet.git", None, "https://github.com/acme/fleet/commit/"),
    ("git@github.com:acme/fleet.git", None, "https://github.com/acme/fleet/commit/"),
    ("https://gitlab.com/acme/infra/fleet.git", None, "https://gitlab.com/acme/infra/fleet/-/commit/"),
    ("https://codeberg.org/acme/fleet.git", None, "https://codeberg.org/acme/fleet/commit/"),
    ("https://git.acme.example/acme/fleet.git", "forgejo", "https://git.acme.example/acme/fleet/commit/"),
    ("https://git.acme.example/acme/fleet.git", "gitea", "https://git.acme.example/acme/fleet/commit/"),
    ("git@bitbucket.org:acme/fleet.git", None, "https://bitbucket.org/acme/fleet/commits/"),
    ("https://bitbucket.acme.example/bb/scm/OPS/fleet.git", "bitbucketserver",
     "https://bitbucket.acme.example/bb/projects/OPS/repos/fleet/commits/"),
    ("ssh://git@bitbucket.acme.example:7999/~alice/fleet.git", "bitbucketserver",
     "https://bitbucket.acme.example/users/alice/repos/fleet/commits/"),
    ("https://dev.azure.com/acme/Platform%20Ops/_git/fleet", None,
     "https://dev.azure.com/acme/Platform%20Ops/_git/fleet/commit/"),
    ("git@ssh.dev.azure.com:v3/acme/ops/fleet", None, "https://dev.azure.com/acme/ops/_git/fleet/commit/"),
    ("https://acme.visualstudio.com/DefaultCollection/ops/_git/fleet", None,
     "https://acme.visualstudio.com/DefaultCollection/ops/_git/fleet/commit/"),
    ("https://tfs.acme.example/Main/ops/_git/fleet", "azuredevops",
     "https://tfs.acme.example/Main/ops/_git/fleet/commit/"),
])
def test_a_commit_links_to_its_page_on_the_forge(clone_url: str, provider: str | None, page: str) -> None:
    assert commit_url(clone_url, SHA, provider) == page + SHA


@pytest.mark.parametrize(("clone_url", "provider", "commit"), [
    ("file:///srv/git/fleet.git", None, SHA),  # no web page
    ("https://git.acme.example/acme/fleet.git", None, SHA),  # a host of unknown kind, no provider named
    ("https://github.com/acme/fleet.git", None, "not-a-sha"),
    ("https://tfs.acme.example/Main/ops/fleet", "azuredevops", SHA),  # no _git: not an Azure DevOps clone URL
])
def test_no_link_is_guessed(clone_url: str, provider: str | None, commit: str) -> None:
    assert commit_url(clone_url, commit, provider) is None
