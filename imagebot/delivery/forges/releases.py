"""Release notes of one tag from a forge's releases API (GitHub, GitLab, Gitea/Forgejo).

A lookup is a courtesy: a missing release (404), a rate limit (403/429), a slow or odd answer all
mean "no notes", logged quietly, and never fail a delivery. The token is optional (public
repositories need none; it raises GitHub's anonymous limit of 60 requests an hour). Answers are
bounded in size and time.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import httpx

from imagebot import redact
from imagebot.httpbody import BodyLimit, ResponseLimitError
from imagebot.release.model import ReleaseNotes
from imagebot.release.source import SourceRepository

log = logging.getLogger("imagebot.release")

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_ANSWER = 512 * 1024  # a release with a long body is tens of KiB
MAX_NOTES = 20_000  # characters kept of a release body; each target cuts further to its own limit


def release_path(repo: SourceRepository, tag: str) -> str:
    """The API path (after the API base) of the release of `tag`."""
    if repo.kind == "gitlab":
        return f"/projects/{quote(repo.path, safe='')}/releases/{quote(tag, safe='')}"
    return f"/repos/{repo.path}/releases/tags/{quote(tag, safe='')}"  # GitHub and Gitea share the shape


def _headers(repo: SourceRepository, token: str | None) -> dict[str, str]:
    headers = {"User-Agent": "imagebot"}
    if repo.kind == "github":
        headers |= {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
    elif repo.kind == "gitlab":
        headers["Accept"] = "application/json"
        if token:
            headers["PRIVATE-TOKEN"] = token
    else:
        headers["Accept"] = "application/json"
        if token:
            headers["Authorization"] = f"token {token}"
    return headers


def _notes(repo: SourceRepository, tag: str, answer: Any) -> ReleaseNotes | None:
    if not isinstance(answer, dict):
        return None
    text = answer.get("description" if repo.kind == "gitlab" else "body")
    title = answer.get("name")
    if repo.kind == "gitlab":
        links = answer.get("_links")
        url = links.get("self") if isinstance(links, dict) else None
    else:
        url = answer.get("html_url")
    text = text if isinstance(text, str) else ""
    truncated = len(text) > MAX_NOTES
    return ReleaseNotes(Title=title if isinstance(title, str) and title.strip() else tag,
                        Text=text[:MAX_NOTES], URL=url if isinstance(url, str) and url.startswith("http") else None,
                        Truncated=truncated)


async def fetch_release_notes(repo: SourceRepository, tags: list[str], *, token: str | None = None,
                              verify: Any = True) -> ReleaseNotes | None:
    """The release of the first of `tags` the forge knows (e.g. `1.4.2`, then `v1.4.2`); None when
    none is found or the forge cannot be asked."""
    if repo.kind is None or repo.api_url is None:
        return None
    if token:
        redact.register_secrets([token])
    limit = BodyLimit(MAX_ANSWER, seconds=TIMEOUT.read)
    async with httpx.AsyncClient(base_url=repo.api_url.rstrip("/"), headers=_headers(repo, token), verify=verify,
                                 timeout=TIMEOUT, event_hooks=limit.hooks()) as client:
        for tag in tags:
            try:
                response = await client.get(release_path(repo, tag))
            except (httpx.HTTPError, ResponseLimitError) as err:
                log.info("release notes of %s %s not read: %s", repo.web_url, tag,
                         redact.scrub(str(err) or type(err).__name__, [token] if token else []))
                return None
            if response.status_code == 404:
                continue
            if response.status_code in (401, 403, 429):
                log.info("release notes of %s %s not read: %s answered %d (rate limit or access)",
                         repo.web_url, tag, repo.host, response.status_code)
                return None
            if not response.is_success:
                log.info("release notes of %s %s not read: %s answered %d", repo.web_url, tag, repo.host,
                         response.status_code)
                return None
            try:
                return _notes(repo, tag, response.json())
            except (ValueError, RecursionError):
                log.info("release notes of %s %s not read: the answer is not JSON", repo.web_url, tag)
                return None
    return None
