"""Bitbucket Cloud: the pull requests API (2.0) at https://api.bitbucket.org/2.0.

The repository is `workspace/repo_slug` from the clone URL. The token is an app password or API
token as `username:secret` (sent as Basic auth, the format Flux's `bitbucket` Provider takes), or
a repository/project/workspace access token (sent as Bearer). Bitbucket pull requests have no
labels; reviewers are account UUIDs.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from imagebot.delivery.forges import PullRequest, PullRequestRequest
from imagebot.delivery.forges._http import ForgeBase, ForgeError

log = logging.getLogger(__name__)

_UUID = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")


def basic_or_bearer(token: str) -> str:
    """`user:secret` is Basic auth; anything else is a bearer token."""
    user, sep, secret = token.partition(":")
    if sep and user and secret:
        return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
    return f"Bearer {token}"


def no_labels(forge: str, labels: Sequence[str]) -> None:
    if labels:
        raise ForgeError(
            f"{forge}: pull requests have no labels, so labels {', '.join(labels)} cannot be added; "
            "remove `labels` from the pull request settings"
        )


class BitbucketCloud(ForgeBase):
    name = "Bitbucket"
    has_labels = False

    @staticmethod
    def check_reviewer(reviewer: str) -> None:
        _reviewer(reviewer)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": basic_or_bearer(self._token), "Accept": "application/json"}

    async def upsert_pull_request(self, req: PullRequestRequest) -> PullRequest:
        no_labels(self.name, req.labels)
        wanted = [_reviewer(r) for r in req.reviewers]
        if self.location.path.count("/") != 1:
            raise ForgeError(f"Bitbucket: {self.location.path!r} is not workspace/repository; "
                             "point the GitRepository at https://bitbucket.org/WORKSPACE/REPO.git")
        pulls = f"/repositories/{quote(self.location.owner, safe='')}/{quote(self.location.name, safe='')}/pullrequests"
        query = f"source.branch.name = {_quoted(req.head)} AND destination.branch.name = {_quoted(req.base)}"
        async with self._client() as client:
            found = await client.call("GET", pulls, action=f"list open pull requests from {req.head}",
                                      params={"state": "OPEN", "q": query, "pagelen": 50})
            existing = next((p for p in (found or {}).get("values") or [] if self._ours(p, req)), None)
            # The description names the body `summary.raw` (Markdown); `description` is not in it.
            fields: dict[str, Any] = {"type": "pullrequest", "title": req.title,
                                      "summary": {"raw": req.body, "markup": "markdown"}}
            if existing is not None:
                number = int(existing["id"])
                # PUT replaces the reviewers, and only the pull request itself lists them: keep the ones asked.
                current = await client.call("GET", f"{pulls}/{number}", action=f"read pull request #{number}")
                asked = [{"type": "user", "uuid": r["uuid"]} for r in (current or {}).get("reviewers") or []
                         if isinstance(r, dict) and r.get("uuid")]
                known = {r["uuid"] for r in asked}
                fields["reviewers"] = asked + [r for r in wanted if r["uuid"] not in known]
                pr = await client.call("PUT", f"{pulls}/{number}", action=f"update pull request #{number}",
                                       json=fields)
            else:
                fields |= {"source": {"branch": {"name": req.head}}, "destination": {"branch": {"name": req.base}}}
                if wanted:
                    fields["reviewers"] = wanted
                pr = await client.call("POST", pulls, action=f"open a pull request from {req.head} into {req.base}",
                                       json=fields)
                number = int(pr["id"])
        url = str(((pr.get("links") or {}).get("html") or {}).get("href") or "")
        log.info("Bitbucket: %s pull request #%d %s", "updated" if existing else "opened", number, url)
        return PullRequest(url=url, number=number, created=existing is None)

    def _ours(self, pr: dict[str, Any], req: PullRequestRequest) -> bool:
        """The filter asked for this; a fork's branch of the same name is someone else's pull request."""
        source, destination = pr.get("source") or {}, pr.get("destination") or {}
        if (source.get("branch") or {}).get("name") != req.head:
            return False
        if (destination.get("branch") or {}).get("name") != req.base:
            return False
        full_name = (source.get("repository") or {}).get("full_name")
        return not full_name or str(full_name).lower() == self.location.path.lower()


def _reviewer(value: str) -> dict[str, str]:
    """Bitbucket Cloud names accounts by UUID (`{…}`); usernames left its API in 2019."""
    if not _UUID.match(value):
        raise ForgeError(
            f"Bitbucket: reviewer {value!r} is not an account UUID. List reviewers by their UUID, "
            "e.g. {d3f…-…}, shown by GET https://api.bitbucket.org/2.0/users/ACCOUNT or /2.0/user."
        )
    return {"type": "user", "uuid": "{" + value.strip("{}").lower() + "}"}


def _quoted(text: str) -> str:
    """A string literal of Bitbucket's filter language."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
