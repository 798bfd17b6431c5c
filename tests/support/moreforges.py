"""Local Forgejo, Bitbucket Cloud, Bitbucket Data Center and Azure DevOps API servers, checked
against each forge's own published description (fixtures/openapi/NAME.json, cut by
scripts/excerpt-openapi, provenance in its `source`). Same machinery as tests/support/forgefakes.py:
every request is matched to an operation and validated, every answer is built from and validated
against the operation's response schema.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.forgefakes import FakeForge, FakePull, FakeRepository, GiteaFake, Reply, _running

# Bitbucket Cloud documents pagination and filtering once, for every list
# (developer.atlassian.com/cloud/bitbucket/rest/intro/#pagination and #filtering), not per operation.
BITBUCKET_LIST_QUERY = {
    "q": {"type": "string", "maxLength": 2048},
    "sort": {"type": "string"},
    "page": {"type": "integer", "minimum": 1},
    "pagelen": {"type": "integer", "minimum": 1, "maximum": 50},
}
BB_USER = "imagebot-bot"
APP_PASSWORD = "ATBBapp-pa55word-value-7f7f"  # a Bitbucket app password: sent as user:password
ACCESS_TOKEN = "ATCTT3xFfGF0repo-access-token-9d9d"  # a Bitbucket access token: sent as Bearer
PAT = "azdo-pat-0123456789abcdefghij"  # an Azure DevOps personal access token
ALICE = "{6f1e2c4a-9b0d-4e53-8f6a-1c2d3e4f5a6b}"
BOB = "{0a1b2c3d-4e5f-4a6b-8c7d-9e8f7a6b5c4d}"
REVIEWER_ID = "8d0f1a5e-3c2b-4a79-9e61-5b4c3d2e1f00"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class ForgejoFake(GiteaFake):
    """Forgejo answers as Gitea does; what differs is the description it is checked against."""

    name = "forgejo"


class BitbucketFake(FakeForge):
    name = "bitbucket"
    base_path = spec_prefix = "/2.0"
    extra_query = BITBUCKET_LIST_QUERY

    def __init__(self) -> None:
        super().__init__(token=ACCESS_TOKEN)
        self.app_password = APP_PASSWORD

    def authenticated(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization") in (f"Bearer {self.token}", _basic(BB_USER, self.app_password))

    def _error(self, message: str) -> dict[str, Any]:
        return {"type": "error", "error": {"message": message}}

    def unauthorized_body(self) -> Any:
        return self._error("Access token expired. Use your refresh token to obtain a new access token.")

    def forbidden_body(self) -> Any:
        return self._error("Your credentials lack one or more required privilege scopes.")

    def repository(self, params: dict[str, str]) -> FakeRepository:
        repo = self.repositories.get(f"{params['workspace']}/{params['repo_slug']}")
        if repo is None:
            raise Reply(404, self._error(f"Repository {params['workspace']}/{params['repo_slug']} not found"))
        return repo

    def _pr(self, repo: FakeRepository, pr: FakePull, *, full: bool = False) -> dict[str, Any]:
        side = {"type": "repository", "full_name": repo.path, "name": repo.path.split("/")[1]}
        out: dict[str, Any] = {
            "type": "pullrequest",
            "id": pr.number,
            "title": pr.title,
            "summary": {"raw": pr.body, "markup": "markdown"},
            "state": "OPEN" if pr.state == "open" else "MERGED",
            "source": {"branch": {"name": pr.head}, "repository": side},
            "destination": {"branch": {"name": pr.base}, "repository": side},
            "links": {"html": {"href": f"{self.url}/{repo.path}/pull-requests/{pr.number}"}},
        }
        if full:  # only a pull request's own URL lists its reviewers
            out["reviewers"] = [{"type": "user", "uuid": r} for r in pr.reviewers]
        return out

    def _find(self, repo: FakeRepository, number: str) -> FakePull:
        pr = next((p for p in repo.pulls if p.number == int(number)), None)
        if pr is None:
            raise Reply(404, self._error("Pull request not found"))
        return pr

    def op_get_repositories_workspace_repo_slug_pullrequests(self, repo, params, query, body):
        state = {"OPEN": "open", "MERGED": "merged"}.get(query.get("state", "OPEN"), "declined")
        pulls = [p for p in repo.pulls if p.state == state]
        for field, value in _filter(query.get("q", "")):
            side = "head" if field == "source.branch.name" else "base"
            pulls = [p for p in pulls if getattr(p, side) == value]
        size = int(query.get("pagelen", 10))
        return 200, {"values": [self._pr(repo, p) for p in pulls[:size]], "pagelen": size, "size": len(pulls),
                     "page": 1}

    def op_post_repositories_workspace_repo_slug_pullrequests(self, repo, params, query, body):
        head = ((body.get("source") or {}).get("branch") or {}).get("name")
        base = ((body.get("destination") or {}).get("branch") or {}).get("name")
        if head not in repo.branches or base not in repo.branches:
            raise Reply(400, self._error(f"source: branch {head!r} or destination: branch {base!r} not found"))
        if not body.get("title"):
            raise Reply(400, self._error("title: This field is required."))
        pr = FakePull(self.next_number(), head, base, body["title"], (body.get("summary") or {}).get("raw", ""),
                      reviewers=[r["uuid"] for r in body.get("reviewers", [])])
        repo.pulls.append(pr)
        return 201, self._pr(repo, pr, full=True)

    def op_get_repositories_workspace_repo_slug_pullrequests_pull_request_id(self, repo, params, query, body):
        return 200, self._pr(repo, self._find(repo, params["pull_request_id"]), full=True)

    def op_put_repositories_workspace_repo_slug_pullrequests_pull_request_id(self, repo, params, query, body):
        pr = self._find(repo, params["pull_request_id"])
        pr.title = body.get("title", pr.title)
        pr.body = (body.get("summary") or {}).get("raw", pr.body)
        pr.reviewers = [r["uuid"] for r in body.get("reviewers", [])]  # as Bitbucket does: replaced
        return 200, self._pr(repo, pr, full=True)


def _filter(q: str) -> list[tuple[str, str]]:
    """The `field = "value" AND ...` subset of Bitbucket's filter language the client sends."""
    if not q:
        return []
    terms = [t.strip() for t in q.split(" AND ")]
    out = []
    for term in terms:
        m = re.fullmatch(r'(source\.branch\.name|destination\.branch\.name) = "((?:[^"\\]|\\.)*)"', term)
        if m is None:
            raise Reply(400, {"type": "error", "error": {"message": f"Invalid filter: {term}"}})
        out.append((m[1], re.sub(r"\\(.)", r"\1", m[2])))
    return out


class BitbucketServerFake(FakeForge):
    name = "bitbucketserver"
    base_path = spec_prefix = "/rest"
    # The description gives the create/update body the response's schema, whose `required` lists
    # name server-filled fields (displayId, latestCommit, the project's name...); Atlassian's own
    # examples send only ids, so `required` is not applied to request bodies here.
    request_required = False

    def __init__(self) -> None:
        super().__init__(token=ACCESS_TOKEN)
        self.password = "dc-pa55word"

    def authenticated(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization") in (f"Bearer {self.token}", _basic(BB_USER, self.password))

    def _errors(self, message: str) -> dict[str, Any]:
        return {"errors": [{"context": None, "message": message, "exceptionName": None}]}

    def unauthorized_body(self) -> Any:
        return self._errors("Authentication failed. Please check your credentials and try again.")

    def forbidden_body(self) -> Any:
        return self._errors("You are not permitted to access this resource")

    def repository(self, params: dict[str, str]) -> FakeRepository:
        repo = self.repositories.get(f"{params['projectKey'].upper()}/{params['repositorySlug']}")
        if repo is None:
            raise Reply(404, self._errors(f"Repository {params['projectKey']}/{params['repositorySlug']} does not "
                                          "exist."))
        return repo

    def _pr(self, repo: FakeRepository, pr: FakePull) -> dict[str, Any]:
        key, slug = repo.path.split("/")
        project = {"key": key, "name": key.title(), "type": "NORMAL"}

        def ref(branch: str) -> dict[str, Any]:
            return {"id": f"refs/heads/{branch}", "displayId": branch, "latestCommit": "a" * 40,
                    "repository": {"slug": slug, "name": slug, "project": project}}

        return {
            "id": pr.number,
            "version": pr.version,
            "title": pr.title,
            "description": pr.body,
            "state": "OPEN" if pr.state == "open" else "MERGED",
            "open": pr.state == "open",
            "fromRef": ref(pr.head),
            "toRef": ref(pr.base),
            "reviewers": [{"user": {"name": n, "slug": n, "displayName": n.title(), "type": "NORMAL"},
                           "role": "REVIEWER", "approved": False, "status": "UNAPPROVED"} for n in pr.reviewers],
            "links": {"self": [{"href": f"{self.url}/projects/{key}/repos/{slug}/pull-requests/{pr.number}"}]},
        }

    def op_get_latest_projects_projectkey_repos_repositoryslug_pull_requests(self, repo, params, query, body):
        pulls = [p for p in repo.pulls if query.get("state", "OPEN") in ("ALL", "OPEN" if p.state == "open" else "")]
        if "at" in query:  # with direction OUTGOING: pull requests from this branch
            side = "head" if query.get("direction", "INCOMING") == "OUTGOING" else "base"
            pulls = [p for p in pulls if f"refs/heads/{getattr(p, side)}" == query["at"]]
        start, limit = int(query.get("start", 0)), int(query.get("limit", 25))
        page = pulls[start:start + limit]
        last = start + limit >= len(pulls)
        answer = {"values": [self._pr(repo, p) for p in page], "start": start, "limit": limit, "size": len(page),
                  "isLastPage": last}
        if not last:
            answer["nextPageStart"] = start + limit
        return 200, answer

    def op_post_latest_projects_projectkey_repos_repositoryslug_pull_requests(self, repo, params, query, body):
        head = body["fromRef"]["id"].removeprefix("refs/heads/")
        base = body["toRef"]["id"].removeprefix("refs/heads/")
        if head not in repo.branches or base not in repo.branches:
            raise Reply(404, self._errors(f"Repository {repo.path} does not contain a branch {head!r} or {base!r}"))
        if repo.open_pull(head, base):
            raise Reply(409, self._errors("Only one pull request may be open for a given source and target branch"))
        pr = FakePull(self.next_number(), head, base, body["title"], body.get("description", ""),
                      reviewers=[r["user"]["name"] for r in body.get("reviewers", [])])
        repo.pulls.append(pr)
        return 201, self._pr(repo, pr)

    def op_put_latest_projects_projectkey_repos_repositoryslug_pull_requests_pullrequestid(
            self, repo, params, query, body):
        pr = next((p for p in repo.pulls if p.number == int(params["pullRequestId"])), None)
        if pr is None:
            raise Reply(404, self._errors("Pull request does not exist"))
        if body.get("version") != pr.version:
            raise Reply(409, self._errors(f"You are attempting to modify a pull request based on out-of-date "
                                          f"information (version {body.get('version')}, current {pr.version})."))
        pr.title = body.get("title", pr.title)
        pr.body = body.get("description", pr.body)
        pr.reviewers = [r["user"]["name"] for r in body.get("reviewers", [])]  # replaced, as Bitbucket does
        pr.version += 1
        return 200, self._pr(repo, pr)


class AzureDevOpsFake(FakeForge):
    name = "azuredevops"

    def __init__(self) -> None:
        super().__init__(token=PAT)

    def authenticated(self, headers: dict[str, str]) -> bool:
        # Azure DevOps takes a PAT as the password with any user name (the description's accessToken).
        value = headers.get("authorization", "")
        if not value.startswith("Basic "):
            return False
        _, _, password = base64.b64decode(value[6:]).decode(errors="replace").partition(":")
        return password == self.token

    def unauthorized_body(self) -> Any:
        return None  # the service answers 401 with an HTML sign-in page, not JSON

    def forbidden_body(self) -> Any:
        return {"message": "TF401027: You need the Git 'PullRequestContribute' permission to perform this action.",
                "typeKey": "GitNeedsPermissionException", "errorCode": 0}

    def repository(self, params: dict[str, str]) -> FakeRepository:
        key = f"{params['organization']}/{params['project']}/{params['repositoryId']}"
        repo = self.repositories.get(key)
        if repo is None:
            raise Reply(404, {"message": f"TF401019: The Git repository with name or identifier "
                                         f"{params['repositoryId']} does not exist or you do not have permissions.",
                              "typeKey": "GitRepositoryNotFoundException", "errorCode": 0})
        return repo

    def _pr(self, repo: FakeRepository, pr: FakePull) -> dict[str, Any]:
        return {
            "pullRequestId": pr.number,
            "title": pr.title,
            "description": pr.body,
            "status": "active" if pr.state == "open" else "completed",
            "sourceRefName": f"refs/heads/{pr.head}",
            "targetRefName": f"refs/heads/{pr.base}",
            "repository": {"name": repo.path.rsplit("/", 1)[1], "id": "5febef5a-833d-4e14-b9c0-14cb638f91e6"},
            "labels": [{"name": n, "active": True} for n in pr.labels],
            "reviewers": [{"id": r, "vote": 0} for r in pr.reviewers],
            "url": f"{self.url}/{repo.path.replace('/', '/_apis/git/repositories/', 1)}/pullRequests/{pr.number}",
        }

    def _find(self, repo: FakeRepository, number: str) -> FakePull:
        pr = next((p for p in repo.pulls if p.number == int(number)), None)
        if pr is None:
            raise Reply(404, {"message": "TF401180: The requested pull request was not found.", "errorCode": 0})
        return pr

    def op_get_organization_project_apis_git_repositories_repositoryid_pullrequests(self, repo, params, query, body):
        status = query.get("searchCriteria.status", "active")
        pulls = [p for p in repo.pulls if status == "all" or (status == "active") == (p.state == "open")]
        if "searchCriteria.sourceRefName" in query:
            pulls = [p for p in pulls if f"refs/heads/{p.head}" == query["searchCriteria.sourceRefName"]]
        if "searchCriteria.targetRefName" in query:
            pulls = [p for p in pulls if f"refs/heads/{p.base}" == query["searchCriteria.targetRefName"]]
        return 200, [self._pr(repo, p) for p in pulls[: int(query.get("$top", 101))]]

    def op_post_organization_project_apis_git_repositories_repositoryid_pullrequests(self, repo, params, query, body):
        head = body["sourceRefName"].removeprefix("refs/heads/")
        base = body["targetRefName"].removeprefix("refs/heads/")
        if head not in repo.branches or base not in repo.branches:
            raise Reply(400, {"message": "TF401398: The pull request cannot be activated because the source "
                                         "and/or the target branch no longer exists.", "errorCode": 0})
        if repo.open_pull(head, base):
            raise Reply(409, {"message": "TF401179: An active pull request for the source and target branch "
                                         "already exists.", "errorCode": 0})
        if len(body.get("description", "")) > 4000:
            raise Reply(400, {"message": "The description is too long (4000 characters at most).", "errorCode": 0})
        pr = FakePull(self.next_number(), head, base, body["title"], body.get("description", ""),
                      labels=[t["name"] for t in body.get("labels", [])],
                      reviewers=[r["id"] for r in body.get("reviewers", [])])
        repo.pulls.append(pr)
        return 200, self._pr(repo, pr)

    def op_patch_organization_project_apis_git_repositories_repositoryid_pullrequests_pullrequestid(
            self, repo, params, query, body):
        pr = self._find(repo, params["pullRequestId"])
        if len(body.get("description", "")) > 4000:
            raise Reply(400, {"message": "The description is too long (4000 characters at most).", "errorCode": 0})
        pr.title = body.get("title", pr.title)
        pr.body = body.get("description", pr.body)
        return 200, self._pr(repo, pr)

    def op_post_organization_project_apis_git_repositories_repositoryid_pullrequests_pullrequestid_labels(
            self, repo, params, query, body):
        pr = self._find(repo, params["pullRequestId"])
        if body["name"] not in pr.labels:
            pr.labels.append(body["name"])
        return 200, {"name": body["name"], "active": True, "id": "00000000-0000-4000-8000-000000000001"}

    def op_put_organization_project_apis_git_repositories_repositoryid_pullrequests_pullrequestid_reviewers_reviewerid(
            self, repo, params, query, body):
        pr = self._find(repo, params["pullRequestId"])
        if params["reviewerId"] not in pr.reviewers:
            pr.reviewers.append(params["reviewerId"])
        return 200, {"id": params["reviewerId"], "vote": body.get("vote", 0)}


@pytest.fixture
def forgejo_fake() -> Iterator[ForgejoFake]:
    fake = ForgejoFake()
    fake.add_repository(
        "acme/deploy", branches={"main", "imagebot/updates"}, labels={"dependencies": 3, "automerge": 9, "bug": 1}
    )
    with _running(fake):
        yield fake


@pytest.fixture
def bitbucket_fake() -> Iterator[BitbucketFake]:
    fake = BitbucketFake()
    fake.add_repository("acme/deploy", branches={"main", "imagebot/updates"})
    with _running(fake):
        yield fake


@pytest.fixture
def bitbucketserver_fake() -> Iterator[BitbucketServerFake]:
    fake = BitbucketServerFake()
    fake.add_repository("PLAT/deploy", branches={"main", "imagebot/updates"})
    with _running(fake):
        yield fake


@pytest.fixture
def azuredevops_fake() -> Iterator[AzureDevOpsFake]:
    fake = AzureDevOpsFake()
    fake.add_repository("acme/Platform/deploy", branches={"main", "imagebot/updates"})
    with _running(fake):
        yield fake
