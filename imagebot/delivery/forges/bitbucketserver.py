"""Bitbucket Data Center / Server: the pull requests resource of the REST API 1.0, served under
https://HOST[/CONTEXT]/rest/api/latest.

The clone URL names project and repository: https://HOST[/CONTEXT]/scm/PROJECT/REPO.git or
ssh://git@HOST:7999/PROJECT/REPO.git (a personal repository's project is `~USER`). The token is an
HTTP access token (Bearer, Flux's `token` key) or `username:password` (Basic, Flux's `username`
and `password` keys). Bitbucket pull requests have no labels; reviewers are user names (slugs).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from imagebot.delivery.forges import PullRequest, PullRequestRequest
from imagebot.delivery.forges._http import ForgeBase, ForgeError
from imagebot.delivery.forges._repo_url import RepositoryLocation
from imagebot.delivery.forges.bitbucket import basic_or_bearer, no_labels

log = logging.getLogger(__name__)

_PAGE = 100
_MAX_PAGES = 20  # 2,000 open pull requests from one branch: far past any repository this bot serves


def project_and_repo(location: RepositoryLocation) -> tuple[str, str, str]:
    """(context path, project key, repository slug) from the clone URL's path."""
    parts = location.path.split("/")
    if "scm" in parts[:-2]:
        at = len(parts) - 1 - parts[::-1].index("scm")  # the last `scm` segment before project/repo
        context, rest = parts[:at], parts[at + 1:]
    else:
        context, rest = [], parts
    if len(rest) != 2:
        raise ForgeError(
            f"Bitbucket Server: cannot tell project and repository from {location.path!r}; point the "
            "GitRepository at https://HOST/scm/PROJECT/REPO.git or ssh://git@HOST:7999/PROJECT/REPO.git"
        )
    return "/".join(context), rest[0], rest[1]


def default_api_url(location: RepositoryLocation) -> str:
    context, _, _ = project_and_repo(location)
    return f"https://{location.host}{'/' + context if context else ''}/rest"


class BitbucketServer(ForgeBase):
    name = "Bitbucket Server"
    has_labels = False

    def _headers(self) -> dict[str, str]:
        return {"Authorization": basic_or_bearer(self._token), "Accept": "application/json"}

    async def upsert_pull_request(self, req: PullRequestRequest) -> PullRequest:
        no_labels(self.name, req.labels)
        _, project, slug = project_and_repo(self.location)
        pulls = f"/api/latest/projects/{quote(project, safe='~')}/repos/{quote(slug, safe='')}/pull-requests"
        head, base = f"refs/heads/{req.head}", f"refs/heads/{req.base}"
        async with self._client() as client:
            existing = None
            for page in range(_MAX_PAGES):
                found = await client.call(
                    "GET", pulls, action=f"list open pull requests from {req.head}",
                    params={"state": "OPEN", "direction": "OUTGOING", "at": head, "start": page * _PAGE,
                            "limit": _PAGE},
                ) or {}
                existing = next((p for p in found.get("values") or [] if _ours(p, head, base, project, slug)), None)
                if existing is not None or found.get("isLastPage", True) or found.get("nextPageStart") is None:
                    break
            if existing is not None:
                number = int(existing["id"])
                # PUT replaces the reviewers: send the ones already asked along with ours.
                asked = [r["user"]["name"] for r in existing.get("reviewers") or []
                         if isinstance(r, dict) and isinstance(r.get("user"), dict) and r["user"].get("name")]
                names = asked + [r for r in req.reviewers if r not in asked]
                pr = await client.call(
                    "PUT", f"{pulls}/{number}", action=f"update pull request #{number}",
                    json={"version": existing.get("version", 0), "title": req.title, "description": req.body,
                          "reviewers": [{"user": {"name": n}} for n in names]},
                )
            else:
                ref = {"repository": {"slug": slug, "project": {"key": project}}}
                fields: dict[str, Any] = {"title": req.title, "description": req.body,
                                          "fromRef": {"id": head, **ref}, "toRef": {"id": base, **ref}}
                if req.reviewers:
                    fields["reviewers"] = [{"user": {"name": n}} for n in req.reviewers]
                pr = await client.call("POST", pulls, action=f"open a pull request from {req.head} into {req.base}",
                                       json=fields)
                number = int(pr["id"])
        url = _web_url(pr) or (f"{self.api_url.removesuffix('/rest')}/projects/{project}/repos/{slug}"
                               f"/pull-requests/{number}")
        log.info("Bitbucket Server: %s pull request #%d %s", "updated" if existing else "opened", number, url)
        return PullRequest(url=url, number=number, created=existing is None)


def _ours(pr: dict[str, Any], head: str, base: str, project: str, slug: str) -> bool:
    """Same branches, and the source is this repository (not a fork's branch of the same name)."""
    source, target = pr.get("fromRef") or {}, pr.get("toRef") or {}
    if source.get("id") != head or target.get("id") != base:
        return False
    repo = source.get("repository") or {}
    key = (repo.get("project") or {}).get("key")
    if not repo.get("slug") or not key:
        return True
    return str(repo["slug"]).lower() == slug.lower() and str(key).lower() == project.lower()


def _web_url(pr: dict[str, Any]) -> str | None:
    links = (pr.get("links") or {}).get("self")
    if isinstance(links, list) and links and isinstance(links[0], dict) and links[0].get("href"):
        return str(links[0]["href"])
    return None
