"""Pull requests on GitHub, GitLab and Gitea/Forgejo: one small protocol, one module per forge.

forge = forge_for("github", repository_url="git@github.com:acme/deploy.git", api_url=None, token=t)
pr = await forge.upsert_pull_request(PullRequestRequest(head="imagebot", base="main", title=..., body=...))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from imagebot.delivery.forges._http import ForgeError
from imagebot.delivery.forges._repo_url import RepositoryLocation, parse_repository_url

__all__ = [
    "Forge",
    "ForgeError",
    "PullRequest",
    "PullRequestRequest",
    "RepositoryLocation",
    "forge_for",
    "parse_repository_url",
]

Provider = Literal["github", "gitlab", "gitea"]


@dataclass(frozen=True)
class PullRequestRequest:
    """A pull request from branch `head` into branch `base` of the same repository."""

    head: str
    base: str
    title: str
    body: str
    labels: Sequence[str] = ()
    reviewers: Sequence[str] = ()


@dataclass(frozen=True)
class PullRequest:
    url: str
    number: int
    created: bool  # False when an open pull request of that head was updated instead


class Forge(Protocol):
    api_url: str

    async def upsert_pull_request(self, req: PullRequestRequest) -> PullRequest:
        """Update the open pull request from req.head into req.base, or open one."""
        ...


def forge_for(
    provider: Provider,
    *,
    repository_url: str,
    api_url: str | None,
    token: str,
    ca_file: Path | None = None,
) -> Forge:
    """The forge client for `provider`; api_url defaults to the provider's public API base,
    or for GitLab and Gitea to the API on the repository's own host."""
    location = parse_repository_url(repository_url)
    if not token:
        raise ForgeError(f"{provider}: no token given; set the `token` key of the pull request's secretRef")
    if provider == "github":
        from imagebot.delivery.forges.github import GitHub

        return GitHub(location, api_url=api_url or "https://api.github.com", token=token, ca_file=ca_file)
    if provider == "gitlab":
        from imagebot.delivery.forges.gitlab import GitLab

        return GitLab(location, api_url=api_url or f"https://{location.host}/api/v4", token=token, ca_file=ca_file)
    if provider == "gitea":
        from imagebot.delivery.forges.gitea import Gitea

        return Gitea(location, api_url=api_url or f"https://{location.host}/api/v1", token=token, ca_file=ca_file)
    raise ForgeError(f"unknown pull request provider {provider!r}: use one of github, gitlab, gitea")
