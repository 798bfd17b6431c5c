"""Links the page may put in an href: a commit on its forge, and pull request URLs checked for scheme.

Escaping makes a value safe as text, not as a link target: `javascript:...` survives HTML
escaping. So every href the page renders comes from here, and only http(s) URLs get through.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from imagebot.delivery.forges import ForgeError, parse_repository_url
from imagebot.delivery.forges._repo_url import RepositoryLocation
from imagebot.delivery.forges.azuredevops import organization_project_repo
from imagebot.delivery.forges.bitbucketserver import project_and_repo

# Public forges recognised by host; a self-hosted one is recognised by the pull request provider
# its automation names (spec.git.push.pullRequest.provider).
KNOWN_HOSTS = {"github.com": "github", "gitlab.com": "gitlab", "codeberg.org": "forgejo", "gitea.com": "gitea",
               "bitbucket.org": "bitbucket", "dev.azure.com": "azuredevops", "ssh.dev.azure.com": "azuredevops"}
_SHA = re.compile(r"[0-9a-f]{7,64}")


def http_url(url: str | None) -> str | None:
    """`url` when it is an absolute http or https URL without credentials, else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    if any(c in url for c in "\r\n\t \"'<>\\"):
        return None
    return url


def commit_url(repository_url: str | None, commit: str | None, forge: str | None = None) -> str | None:
    """The web page of `commit` when the repository lives on a forge we know the URL scheme of."""
    if not repository_url or not commit or not _SHA.fullmatch(commit):
        return None
    try:
        location = parse_repository_url(repository_url)
        return _commit_page(location, commit, _forge_of(location.host) or forge)
    except ForgeError:
        return None  # file://, a bare path, a path the forge would not have: no web page


def _forge_of(host: str) -> str | None:
    return KNOWN_HOSTS.get(host) or ("azuredevops" if host.endswith(".visualstudio.com") else None)


def _commit_page(location: RepositoryLocation, commit: str, forge: str | None) -> str | None:
    # Each forge's own reading of its clone URLs (context paths, `scm/`, `_git/`) gives the page.
    if forge in ("github", "gitea", "forgejo"):
        return f"https://{location.host}/{quote(location.path)}/commit/{commit}"
    if forge == "gitlab":
        return f"https://{location.host}/{quote(location.path)}/-/commit/{commit}"
    if forge == "bitbucket":
        return f"https://{location.host}/{quote(location.path)}/commits/{commit}"
    if forge == "bitbucketserver":
        context, project, slug = project_and_repo(location)
        base = f"https://{location.host}{'/' + quote(context) if context else ''}"
        # a personal repository's project is ~USER; its pages live under /users/USER
        owner = f"users/{quote(project[1:])}" if project.startswith("~") else f"projects/{quote(project)}"
        return f"{base}/{owner}/repos/{quote(slug)}/commits/{commit}"
    if forge == "azuredevops":
        organization, project, repo = organization_project_repo(location)
        return f"{organization}/{quote(project)}/_git/{quote(repo)}/commit/{commit}"
    return None


def redact_url(url: str | None) -> str | None:
    """A git URL with any user:password written into it removed (https://user:token@host/...)."""
    if url is None:
        return None
    return re.sub(r"(://)[^/@]*@", r"\1", url)
