"""Where a repository lives on its forge, derived from the git remote URL the automation pushes to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from imagebot.delivery.forges._http import ForgeError
from imagebot.redact import redact_userinfo

# scp-like syntax as git accepts it: [user@]host:path, where path does not start with "/".
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")


@dataclass(frozen=True)
class RepositoryLocation:
    """A host and a repository path on it: `owner/repo`, or `group/subgroup/project` on GitLab."""

    host: str
    path: str

    @property
    def owner(self) -> str:
        return self.path.rsplit("/", 1)[0]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]


def parse_repository_url(url: str) -> RepositoryLocation:
    """Read host and repository path from an https, http, ssh or scp-like git URL."""
    text = url.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("https", "http", "ssh", "git", "git+ssh", "ssh+git"):
            raise _unusable(url, f"the scheme {parts.scheme!r} names no forge host")
        host, path = parts.hostname or "", parts.path
    else:
        match = _SCP_LIKE.match(text)
        if match is None:
            raise _unusable(url, "it is neither a URL with a host nor scp-like (git@host:owner/repo.git)")
        host, path = match["host"], match["path"]
    path = path.strip("/")
    path = path.removesuffix(".git").rstrip("/")
    if not host or path.count("/") < 1 or any(not segment for segment in path.split("/")):
        raise _unusable(url, "it needs a host and at least owner/repository in its path")
    return RepositoryLocation(host=host.lower(), path=path)


def _unusable(url: str, why: str) -> ForgeError:
    return ForgeError(
        f"cannot tell the repository from the git URL {redact_userinfo(url)!r}: {why}. "
        "Point the GitRepository at the forge's https or ssh clone URL."
    )
