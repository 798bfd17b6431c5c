"""Gitea and Forgejo: the pulls API (v1). Their list endpoint has no head/base filter, and labels
are added by ID, so both are looked up page by page."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from imagebot.delivery.forges import PullRequest, PullRequestRequest
from imagebot.delivery.forges._http import ForgeBase, ForgeClient, open_or_update_pull, request_reviewers

log = logging.getLogger(__name__)

_PAGE = 50
_MAX_PAGES = 40  # 2,000 open pull requests or labels: far past any repository this bot serves


class Gitea(ForgeBase):
    name = "Gitea"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self._token}", "Accept": "application/json"}

    async def upsert_pull_request(self, req: PullRequestRequest) -> PullRequest:
        repo = f"/repos/{self.location.path}"
        async with self._client() as client:
            existing = None
            async for pr in _pages(client, f"{repo}/pulls", {"state": "open"}, "list open pull requests"):
                if _ref(pr, "head") == req.head and _ref(pr, "base") == req.base and self._same_repo(pr):
                    existing = pr
                    break
            pr, number = await open_or_update_pull(client, repo, existing, head=req.head, base=req.base,
                                                   title=req.title, body=req.body)
            if req.labels:
                await self._add_labels(client, number, req.labels)
            await request_reviewers(client, repo, number, req.reviewers)
        log.info("%s: %s pull request #%d %s", self.name, "updated" if existing else "opened", number, pr["html_url"])
        return PullRequest(url=pr["html_url"], number=number, created=existing is None)

    def _same_repo(self, pr: dict[str, Any]) -> bool:
        """A fork's branch of the same name is someone else's pull request."""
        repo = (pr.get("head") or {}).get("repo")
        if not isinstance(repo, dict) or not repo.get("full_name"):
            return True
        return str(repo["full_name"]).lower() == self.location.path.lower()

    async def _add_labels(self, client: ForgeClient, number: int, names: Any) -> None:
        repo = f"/repos/{self.location.path}"
        ids: dict[str, int] = {}
        async for label in _pages(client, f"{repo}/labels", {}, "list the repository's labels"):
            ids.setdefault(str(label.get("name")), int(label["id"]))
        missing = [n for n in names if n not in ids]
        if missing:
            # The pull request is the point; a missing label should not undo it.
            log.warning(
                "%s: labels %s do not exist in %s and were not added; create them in the repository",
                self.name,
                ", ".join(missing),
                self.location.path,
            )
        wanted = [ids[n] for n in names if n in ids]
        if wanted:
            await client.call(
                "POST",
                f"{repo}/issues/{number}/labels",
                action=f"add labels to pull request #{number}",
                json={"labels": wanted},
            )


async def _pages(client: ForgeClient, path: str, params: dict[str, Any], action: str) -> AsyncIterator[dict[str, Any]]:
    for page in range(1, _MAX_PAGES + 1):
        items = await client.call("GET", path, action=action, params={**params, "page": page, "limit": _PAGE})
        for item in items or []:
            yield item
        if not items or len(items) < _PAGE:
            return


class Forgejo(Gitea):
    """Forgejo keeps Gitea's API (v1) for everything used here; tested against Forgejo's own description."""

    name = "Forgejo"


def _ref(pr: dict[str, Any], side: str) -> str | None:
    branch = pr.get(side)
    return branch.get("ref") if isinstance(branch, dict) else None
