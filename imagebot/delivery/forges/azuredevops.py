"""Azure DevOps Repos (and Azure DevOps Server): the Git pull requests REST API, version 7.1.

The clone URL names organization (or collection), project and repository:
https://dev.azure.com/ORG/PROJECT/_git/REPO, git@ssh.dev.azure.com:v3/ORG/PROJECT/REPO,
https://ORG.visualstudio.com/PROJECT/_git/REPO or https://HOST/COLLECTION/PROJECT/_git/REPO. The
API base is the organization's (collection's) URL. The token is a personal access token, sent as
Basic auth with an empty user name. Labels are pull request tags (made on first use); reviewers
are identity IDs (GUIDs).
"""

from __future__ import annotations

import base64
import logging
import re
from typing import Any
from urllib.parse import quote, unquote

from imagebot.delivery.forges import PullRequest, PullRequestRequest
from imagebot.delivery.forges._http import ForgeBase, ForgeClient, ForgeError
from imagebot.delivery.forges._repo_url import RepositoryLocation

log = logging.getLogger(__name__)

API_VERSION = "7.1"
DESCRIPTION_MAX = 4000  # Azure DevOps refuses a longer pull request description
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def organization_project_repo(location: RepositoryLocation) -> tuple[str, str, str]:
    """(organization or collection URL, project, repository) from the clone URL."""
    parts = location.path.split("/")
    if location.host == "ssh.dev.azure.com" and len(parts) == 4 and parts[0] == "v3":
        return f"https://dev.azure.com/{parts[1]}", parts[2], parts[3]
    if "_git" not in parts or parts.index("_git") != len(parts) - 2:
        raise ForgeError(
            f"Azure DevOps: cannot tell project and repository from {location.path!r}; point the GitRepository at "
            "https://dev.azure.com/ORG/PROJECT/_git/REPO or git@ssh.dev.azure.com:v3/ORG/PROJECT/REPO"
        )
    before, repo = parts[:-2], parts[-1]
    if location.host == "dev.azure.com" or location.host.endswith(".visualstudio.com"):
        # dev.azure.com/ORG/[PROJECT/]_git/REPO; ORG.visualstudio.com/[DefaultCollection/][PROJECT/]_git/REPO
        keep = 1 if location.host == "dev.azure.com" else int(bool(before) and before[0] == "DefaultCollection")
        collection, rest = before[:keep], before[keep:]
    else:
        collection, rest = before[:-1], before[-1:]
    if len(rest) > 1 or (location.host == "dev.azure.com" and not collection):
        raise ForgeError(f"Azure DevOps: cannot tell organization and project from {location.path!r}")
    project = rest[0] if rest else repo  # a repository named as its project may leave the project out
    # Project names may hold spaces (`My%20Project` in the URL): kept decoded, encoded again per request.
    return f"https://{location.host}{''.join('/' + c for c in collection)}", unquote(project), unquote(repo)


class AzureDevOps(ForgeBase):
    name = "Azure DevOps"

    @staticmethod
    def check_reviewer(reviewer: str) -> None:
        _reviewer_id(reviewer)

    def _headers(self) -> dict[str, str]:
        credentials = self._token if ":" in self._token else f":{self._token}"
        return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode("ascii"),
                "Accept": "application/json"}

    async def upsert_pull_request(self, req: PullRequestRequest) -> PullRequest:
        _, project, repo = organization_project_repo(self.location)
        reviewers = [_reviewer_id(r) for r in req.reviewers]
        base = f"/{quote(project, safe='')}/_apis/git/repositories/{quote(repo, safe='')}"
        version = {"api-version": API_VERSION}
        description = _bounded(req.body)
        async with self._client() as client:
            found = await client.call(
                "GET", f"{base}/pullrequests", action=f"list open pull requests from {req.head}",
                params={"searchCriteria.sourceRefName": f"refs/heads/{req.head}",
                        "searchCriteria.targetRefName": f"refs/heads/{req.base}",
                        "searchCriteria.status": "active", "$top": 100, **version},
            )
            # The description says an array; the service wraps lists as {"count": N, "value": [...]}.
            items = found.get("value") if isinstance(found, dict) else found
            existing = next((p for p in items or [] if isinstance(p, dict) and _same_repo(p, repo)), None)
            if existing is not None:
                number = int(existing["pullRequestId"])
                await client.call("PATCH", f"{base}/pullrequests/{number}", action=f"update pull request !{number}",
                                  params=version, json={"title": req.title, "description": description})
                await self._add_to(client, base, existing, req.labels, reviewers)
            else:
                fields: dict[str, Any] = {"sourceRefName": f"refs/heads/{req.head}",
                                          "targetRefName": f"refs/heads/{req.base}",
                                          "title": req.title, "description": description}
                if req.labels:
                    fields["labels"] = [{"name": label} for label in req.labels]
                if reviewers:
                    fields["reviewers"] = [{"id": r} for r in reviewers]
                pr = await client.call("POST", f"{base}/pullrequests", params=version, json=fields,
                                       action=f"open a pull request from {req.head} into {req.base}")
                number = int(pr["pullRequestId"])
        url = f"{self.api_url}/{quote(project, safe='')}/_git/{quote(repo, safe='')}/pullrequest/{number}"
        log.info("Azure DevOps: %s pull request !%d %s", "updated" if existing else "opened", number, url)
        return PullRequest(url=url, number=number, created=existing is None)

    async def _add_to(self, client: ForgeClient, base: str, pr: dict[str, Any], labels: Any,
                      reviewers: list[str]) -> None:
        """Tags and reviewers the open pull request lacks, one call each (the API has no batch for tags)."""
        number = int(pr["pullRequestId"])
        version = {"api-version": API_VERSION}
        has_labels = {str(t.get("name", "")).lower() for t in pr.get("labels") or [] if isinstance(t, dict)}
        for label in labels:
            if label.lower() not in has_labels:
                await client.call("POST", f"{base}/pullRequests/{number}/labels", params=version,
                                  json={"name": label}, action=f"tag pull request !{number} with {label!r}")
        has_reviewers = {str(r.get("id", "")).lower() for r in pr.get("reviewers") or [] if isinstance(r, dict)}
        for reviewer in reviewers:
            if reviewer.lower() not in has_reviewers:
                await client.call("PUT", f"{base}/pullRequests/{number}/reviewers/{reviewer}", params=version,
                                  json={"vote": 0}, action=f"add reviewer {reviewer} to pull request !{number}")


def _same_repo(pr: dict[str, Any], repo: str) -> bool:
    """A pull request from a fork names the fork as its source; ours has no forkSource."""
    if pr.get("forkSource"):
        return False
    name = (pr.get("repository") or {}).get("name")
    return not name or str(name).lower() == repo.lower()


def _reviewer_id(value: str) -> str:
    if not _GUID.match(value):
        raise ForgeError(
            f"Azure DevOps: reviewer {value!r} is not an identity ID. Azure DevOps takes reviewers by their "
            "GUID (a user's or group's `id`, e.g. from GET https://vssps.dev.azure.com/ORG/_apis/graph/users)."
        )
    return value.lower()


def _bounded(body: str) -> str:
    if len(body) <= DESCRIPTION_MAX:
        return body
    note = "\n\n…(cut: Azure DevOps keeps 4,000 characters)"
    return body[: DESCRIPTION_MAX - len(note)] + note
