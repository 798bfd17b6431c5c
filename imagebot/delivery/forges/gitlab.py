"""GitLab: the merge requests API (v4). Projects are addressed by their URL-encoded path, so
subgroups (group/sub/project) work as they are."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from imagebot.delivery.forges import PullRequest, PullRequestRequest
from imagebot.delivery.forges._http import ForgeBase, ForgeError

log = logging.getLogger(__name__)


class GitLab(ForgeBase):
    name = "GitLab"

    @staticmethod
    def check_reviewer(reviewer: str) -> None:
        _reviewer_ids([reviewer])

    def _headers(self) -> dict[str, str]:
        return {"PRIVATE-TOKEN": self._token, "Accept": "application/json"}

    async def upsert_pull_request(self, req: PullRequestRequest) -> PullRequest:
        reviewer_ids = _reviewer_ids(req.reviewers)
        project = f"/projects/{quote(self.location.path, safe='')}/merge_requests"
        async with self._client() as client:
            found = await client.call(
                "GET",
                project,
                action=f"list open merge requests from {req.head}",
                params={"state": "opened", "source_branch": req.head, "target_branch": req.base, "per_page": 100},
            )
            existing: dict[str, Any] | None = found[0] if found else None
            if existing is not None:
                iid = int(existing["iid"])
                changes: dict[str, Any] = {"title": req.title, "description": req.body}
                if req.labels:
                    changes["add_labels"] = list(req.labels)
                if reviewer_ids:
                    # reviewer_ids replaces the reviewers: keep the ones already asked.
                    changes["reviewer_ids"] = sorted(set(reviewer_ids) | _user_ids(existing.get("reviewers")))
                mr = await client.call("PUT", f"{project}/{iid}", action=f"update merge request !{iid}", json=changes)
            else:
                fields: dict[str, Any] = {
                    "source_branch": req.head,
                    "target_branch": req.base,
                    "title": req.title,
                    "description": req.body,
                }
                if req.labels:
                    fields["labels"] = list(req.labels)
                if reviewer_ids:
                    fields["reviewer_ids"] = reviewer_ids
                mr = await client.call(
                    "POST", project, action=f"open a merge request from {req.head} into {req.base}", json=fields
                )
                iid = int(mr["iid"])
        log.info("GitLab: %s merge request !%d %s", "updated" if existing else "opened", iid, mr["web_url"])
        return PullRequest(url=mr["web_url"], number=iid, created=existing is None)


def _reviewer_ids(reviewers: Any) -> list[int]:
    """GitLab's API takes reviewers as numeric user IDs only."""
    ids: list[int] = []
    for reviewer in reviewers:
        if not str(reviewer).isdigit():
            raise ForgeError(
                f"GitLab: reviewer {reviewer!r} is not a user ID. GitLab's merge request API takes numeric "
                "user IDs (see the user's profile or GET /users?username=NAME); list those in `reviewers`."
            )
        ids.append(int(reviewer))
    return ids


def _user_ids(users: Any) -> set[int]:
    if isinstance(users, dict):
        users = [users]
    if not isinstance(users, list):
        return set()
    return {int(u["id"]) for u in users if isinstance(u, dict) and isinstance(u.get("id"), int)}
