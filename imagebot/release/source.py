"""The OCI source labels of an image, and which forge (GitHub, GitLab, Gitea) hosts its source.

Labels come from the image config's `Labels` and the manifest's `annotations`
(https://github.com/opencontainers/image-spec/blob/main/annotations.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlsplit

SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"
VERSION = "org.opencontainers.image.version"
URL = "org.opencontainers.image.url"

ForgeKind = Literal["github", "gitlab", "gitea"]
MAX_LABEL = 2048  # a longer source, revision or version is not one

# Hosts whose forge is known without configuration; any other host is a forge only when the
# automation's pull request names it (provider and url), which covers self-hosted ones.
KNOWN_HOSTS: dict[str, ForgeKind] = {
    "github.com": "github", "gitlab.com": "gitlab", "codeberg.org": "gitea", "gitea.com": "gitea",
}
_REVISION = re.compile(r"^[0-9A-Za-z._/+-]{1,200}$")


@dataclass(frozen=True)
class ImageSource:
    """An image's source labels; None where the image does not say."""

    source: str | None = None
    revision: str | None = None
    version: str | None = None
    url: str | None = None

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> ImageSource:
        def get(key: str) -> str | None:
            value = labels.get(key)
            value = value.strip() if isinstance(value, str) else None
            return value if value and len(value) <= MAX_LABEL and "\n" not in value else None

        source, url = get(SOURCE), get(URL)
        return cls(source=source if source and _web_url(source) else None, revision=get(REVISION),
                   version=get(VERSION), url=url if url and _web_url(url) else None)


@dataclass(frozen=True)
class SourceRepository:
    """A repository on a forge: its web address and, when the forge is known, its kind and API base."""

    web_url: str  # https://github.com/acme/app (no .git, no trailing slash)
    host: str
    path: str  # acme/app, or a GitLab group/subgroup/project
    kind: ForgeKind | None = None
    api_url: str | None = None


def _web_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("https", "http") and bool(parts.hostname) and not parts.username \
        and not parts.password


def source_repository(source: str, forges: Mapping[str, tuple[ForgeKind, str]] | None = None) -> SourceRepository:
    """The repository of a source label (`https://github.com/acme/app.git`, `.../tree/main/sub` too).

    `forges` maps a `host[:port]` to (kind, API base) for self-hosted forges; known public hosts
    need no entry."""
    parts = urlsplit(source)
    host = parts.netloc.lower()
    segments = [s for s in parts.path.split("/") if s]
    kind, api = (forges or {}).get(host, (KNOWN_HOSTS.get(host), None))
    if kind == "gitlab" and "-" in segments:  # GitLab: /group/sub/project/-/tree/main
        segments = segments[: segments.index("-")]
    elif kind in ("github", "gitea") or kind is None:
        segments = segments[:2]  # owner/repo[/tree/main/...]
    path = "/".join(segments).removesuffix(".git")
    base = f"{parts.scheme}://{parts.netloc}"
    if kind is not None and api is None:
        api = {"github": "https://api.github.com" if host == "github.com" else f"{base}/api/v3",
               "gitlab": f"{base}/api/v4", "gitea": f"{base}/api/v1"}[kind]
    return SourceRepository(f"{base}/{path}", host, path, kind, api)


def compare_url(repo: SourceRepository, old: str, new: str) -> str | None:
    """The forge's page comparing `old` with `new` (revisions or tags); None for an unknown forge
    or a revision that could not be part of a URL."""
    if repo.kind is None or not (_REVISION.match(old) and _REVISION.match(new)) or ".." in old + new:
        return None
    span = f"{quote(old, safe='')}...{quote(new, safe='')}"
    if repo.kind == "gitlab":
        return f"{repo.web_url}/-/compare/{span}"
    return f"{repo.web_url}/compare/{span}"  # GitHub and Gitea/Forgejo
