"""GitHub (and GitHub Enterprise Server at https://HOST/api/v3): the REST pulls API."""

from __future__ import annotations

import logging
from typing import Any

from imagebot.delivery.forges import PullRequest, PullRequestRequest
from imagebot.delivery.forges._http import ForgeBase, open_or_update_pull, request_reviewers

log = logging.getLogger(__name__)


class GitHub(ForgeBase):
    name = "GitHub"

    def _headers(self) -> dict[str, str]:
        return {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                "Authorization": f"Bearer {self._token}"}

    async def upsert_pull_request(self, req: PullRequestRequest) -> PullRequest:
        repo = f"/repos/{self.location.path}"
        async with self._client() as client:
            # GitHub filters by head only as "owner:branch"; same-repository branches are ours.
            found = await client.call(
                "GET",
                f"{repo}/pulls",
                action=f"list open pull requests from {req.head}",
                params={
                    "head": f"{self.location.owner}:{req.head}",
                    "base": req.base,
                    "state": "open",
                    "per_page": 100,
                },
            )
            existing: dict[str, Any] | None = found[0] if found else None
            pr, number = await open_or_update_pull(client, repo, existing, head=req.head, base=req.base,
                                                   title=req.title, body=req.body)
            if req.labels:
                await client.call(
                    "POST",
                    f"{repo}/issues/{number}/labels",
                    action=f"add labels to pull request #{number}",
                    json={"labels": list(req.labels)},
                )
            await request_reviewers(client, repo, number, req.reviewers)
        log.info("GitHub: %s pull request #%d %s", "updated" if existing else "opened", number, pr["html_url"])
        return PullRequest(url=pr["html_url"], number=number, created=existing is None)

