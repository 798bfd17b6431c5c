"""Pull requests on GitHub, GitLab, Gitea, Forgejo, Bitbucket Cloud, Bitbucket Data Center/Server and
Azure DevOps: one small protocol, one module per forge. Provider names are Flux's (notification
Provider types), with `forgejo` added.

forge = forge_for("github", repository_url="git@github.com:acme/deploy.git", api_url=None, token=t)
pr = await forge.upsert_pull_request(PullRequestRequest(head="imagebot", base="main", title=..., body=...))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from imagebot.delivery.forges._http import ForgeError
from imagebot.delivery.forges._repo_url import RepositoryLocation, parse_repository_url

if TYPE_CHECKING:
    from imagebot.config.secrets import SecretStore

__all__ = [
    "Forge",
    "ForgeError",
    "PullRequest",
    "PullRequestRequest",
    "RepositoryLocation",
    "forge_for",
    "parse_repository_url",
]

Provider = Literal["github", "gitlab", "gitea", "forgejo", "bitbucket", "bitbucketserver", "azuredevops"]
PROVIDERS: tuple[str, ...] = ("github", "gitlab", "gitea", "forgejo", "bitbucket", "bitbucketserver", "azuredevops")


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


# Flux's Provider secrets for the Bitbucket types also take `username` and `password` (Basic auth).
BASIC_AUTH_PROVIDERS = ("bitbucket", "bitbucketserver")


def read_token(secrets: SecretStore, name: str, provider: str) -> str:
    """The credential in secret `name`: its `token` key, or for Bitbucket `username` and `password`
    (given as `username:password`, which the Bitbucket clients send as Basic auth)."""
    if provider in BASIC_AUTH_PROVIDERS and not secrets.has(name, "token") and secrets.has(name, "username"):
        return f"{secrets.read_text(name, 'username')}:{secrets.read_text(name, 'password')}"
    return secrets.read_text(name, "token")


def settings_problems(provider: str, labels: Sequence[str], reviewers: Sequence[str]) -> list[tuple[str, str]]:
    """(field, message) for pull request settings the provider's forge cannot carry out, found when the
    configuration is checked rather than at the first pull request."""
    from importlib import import_module

    module, name = _CLASSES.get(provider, ("", ""))
    if not module:
        return []
    forge = getattr(import_module(f"imagebot.delivery.forges.{module}"), name)
    problems: list[tuple[str, str]] = []
    if labels and not forge.has_labels:
        problems.append(("labels", f"{forge.name} pull requests have no labels: remove `labels`"))
    for reviewer in reviewers:
        try:
            forge.check_reviewer(reviewer)
        except ForgeError as err:
            problems.append(("reviewers", str(err)))
    return problems


_CLASSES = {"gitlab": ("gitlab", "GitLab"), "bitbucket": ("bitbucket", "BitbucketCloud"),
            "bitbucketserver": ("bitbucketserver", "BitbucketServer"), "azuredevops": ("azuredevops", "AzureDevOps")}


def forge_for(
    provider: Provider,
    *,
    repository_url: str,
    api_url: str | None,
    token: str,
    ca_file: Path | None = None,
) -> Forge:
    """The forge client for `provider`; api_url defaults to the provider's public API base, or to
    the API on the repository's own host (GitLab, Gitea, Forgejo, Bitbucket Server, Azure DevOps)."""
    location = parse_repository_url(repository_url)
    if not token:
        raise ForgeError(f"{provider}: no token given; set the `token` key of the pull request's secretRef")
    if provider == "github":
        from imagebot.delivery.forges.github import GitHub

        return GitHub(location, api_url=api_url or "https://api.github.com", token=token, ca_file=ca_file)
    if provider == "gitlab":
        from imagebot.delivery.forges.gitlab import GitLab

        return GitLab(location, api_url=api_url or f"https://{location.host}/api/v4", token=token, ca_file=ca_file)
    if provider in ("gitea", "forgejo"):
        from imagebot.delivery.forges.gitea import Forgejo, Gitea

        kind = Gitea if provider == "gitea" else Forgejo
        return kind(location, api_url=api_url or f"https://{location.host}/api/v1", token=token, ca_file=ca_file)
    if provider == "bitbucket":
        from imagebot.delivery.forges.bitbucket import BitbucketCloud

        return BitbucketCloud(location, api_url=api_url or "https://api.bitbucket.org/2.0", token=token,
                              ca_file=ca_file)
    if provider == "bitbucketserver":
        from imagebot.delivery.forges.bitbucketserver import BitbucketServer, default_api_url

        # The REST root (https://HOST/rest); a URL given down to the API version is taken as well.
        base = (api_url or default_api_url(location)).rstrip("/").removesuffix("/api/latest").removesuffix("/api/1.0")
        return BitbucketServer(location, api_url=base, token=token, ca_file=ca_file)
    if provider == "azuredevops":
        from imagebot.delivery.forges.azuredevops import AzureDevOps, organization_project_repo

        return AzureDevOps(location, api_url=api_url or organization_project_repo(location)[0], token=token,
                           ca_file=ca_file)
    raise ForgeError(f"unknown pull request provider {provider!r}: use one of {', '.join(PROVIDERS)}")
