"""Azure DevOps Repos (Git pull requests REST API 7.1) against a fake checked with Microsoft's
published description (MicrosoftDocs/vsts-rest-api-specs, specification/git/7.1/git.json)."""

import asyncio
import base64

import pytest

from imagebot.delivery.forges import ForgeError, PullRequestRequest, forge_for
from imagebot.delivery.forges._repo_url import parse_repository_url
from imagebot.delivery.forges.azuredevops import DESCRIPTION_MAX, organization_project_repo
from tests.support.moreforges import PAT, REVIEWER_ID, AzureDevOpsFake

REQUEST = PullRequestRequest(head="imagebot/updates", base="main", title="Update images", body="the changes",
                             labels=("dependencies",), reviewers=(REVIEWER_ID,))


def upsert(fake: AzureDevOpsFake, req: PullRequestRequest = REQUEST, token: str = PAT,
           repository_url: str = "https://acme@dev.azure.com/acme/Platform/_git/deploy"):
    forge = forge_for("azuredevops", repository_url=repository_url, api_url=f"{fake.url}/acme", token=token)
    return asyncio.run(forge.upsert_pull_request(req))


@pytest.mark.parametrize(("url", "expected"), [
    ("https://dev.azure.com/acme/Platform/_git/deploy", ("https://dev.azure.com/acme", "Platform", "deploy")),
    ("https://acme@dev.azure.com/acme/Platform%20Team/_git/deploy",
     ("https://dev.azure.com/acme", "Platform Team", "deploy")),
    ("git@ssh.dev.azure.com:v3/acme/Platform/deploy", ("https://dev.azure.com/acme", "Platform", "deploy")),
    ("https://acme.visualstudio.com/Platform/_git/deploy", ("https://acme.visualstudio.com", "Platform", "deploy")),
    ("https://acme.visualstudio.com/DefaultCollection/Platform/_git/deploy",
     ("https://acme.visualstudio.com/DefaultCollection", "Platform", "deploy")),
    ("https://tfs.corp.example/tfs/Main/Platform/_git/deploy",
     ("https://tfs.corp.example/tfs/Main", "Platform", "deploy")),
    ("https://dev.azure.com/acme/_git/deploy", ("https://dev.azure.com/acme", "deploy", "deploy")),
])
def test_organization_project_and_repository_from_the_clone_url(url: str, expected: tuple[str, str, str]) -> None:
    assert organization_project_repo(parse_repository_url(url)) == expected


def test_a_url_that_is_not_azure_devops_shaped_is_explained() -> None:
    with pytest.raises(ForgeError, match="_git/REPO"):
        organization_project_repo(parse_repository_url("https://dev.azure.com/acme/deploy.git"))


def test_opens_a_pull_request_with_tags_and_reviewers(azuredevops_fake: AzureDevOpsFake) -> None:
    pr = upsert(azuredevops_fake)

    assert pr.created and pr.url == f"{azuredevops_fake.url}/acme/Platform/_git/deploy/pullrequest/{pr.number}"
    [stored] = azuredevops_fake.repositories["acme/Platform/deploy"].pulls
    assert (stored.head, stored.base, stored.title, stored.body) == ("imagebot/updates", "main", "Update images",
                                                                     "the changes")
    assert stored.labels == ["dependencies"] and stored.reviewers == [REVIEWER_ID]
    [listed] = azuredevops_fake.calls("GET", "/pullrequests")
    assert dict(listed.query)["api-version"] == "7.1"
    assert dict(listed.query)["searchCriteria.sourceRefName"] == "refs/heads/imagebot/updates"
    # a PAT is the password of Basic auth with an empty user name
    assert listed.headers["authorization"] == "Basic " + base64.b64encode(f":{PAT}".encode()).decode()


def test_second_call_updates_and_adds_only_missing_tags_and_reviewers(azuredevops_fake: AzureDevOpsFake) -> None:
    first = upsert(azuredevops_fake)
    other = "11111111-2222-4333-8444-555555555555"
    second = upsert(azuredevops_fake, PullRequestRequest(
        head="imagebot/updates", base="main", title="t2", body="b2", labels=("dependencies", "automerge"),
        reviewers=(REVIEWER_ID, other.upper())))

    assert (second.number, second.created) == (first.number, False)
    [stored] = azuredevops_fake.repositories["acme/Platform/deploy"].pulls
    assert (stored.title, stored.body) == ("t2", "b2")
    assert stored.labels == ["dependencies", "automerge"] and stored.reviewers == [REVIEWER_ID, other]
    assert [r.body for r in azuredevops_fake.calls("POST", "/labels")] == [{"name": "automerge"}]
    assert len(azuredevops_fake.calls("PUT", f"/reviewers/{other}")) == 1


def test_a_project_name_with_a_space_is_encoded_in_the_path(azuredevops_fake: AzureDevOpsFake) -> None:
    azuredevops_fake.add_repository("acme/Platform Team/deploy", branches={"main", "imagebot/updates"})
    pr = upsert(azuredevops_fake, repository_url="https://dev.azure.com/acme/Platform%20Team/_git/deploy")

    assert pr.url.endswith(f"/acme/Platform%20Team/_git/deploy/pullrequest/{pr.number}")
    assert azuredevops_fake.requests[0].path == "/acme/Platform%20Team/_apis/git/repositories/deploy/pullrequests"


def test_a_long_body_is_cut_to_what_azure_devops_keeps(azuredevops_fake: AzureDevOpsFake) -> None:
    upsert(azuredevops_fake, PullRequestRequest(head="imagebot/updates", base="main", title="t", body="x" * 9000))

    body = azuredevops_fake.repositories["acme/Platform/deploy"].pulls[0].body
    assert len(body) == DESCRIPTION_MAX and body.endswith("(cut: Azure DevOps keeps 4,000 characters)")


def test_a_reviewer_that_is_not_an_id_is_explained(azuredevops_fake: AzureDevOpsFake) -> None:
    with pytest.raises(ForgeError, match="'alice' is not an identity ID"):
        upsert(azuredevops_fake, PullRequestRequest(head="h", base="main", title="t", body="b", reviewers=("alice",)))
    assert azuredevops_fake.requests == []


def test_a_wrong_pat_says_so_and_hides_it(azuredevops_fake: AzureDevOpsFake) -> None:
    with pytest.raises(ForgeError) as caught:
        upsert(azuredevops_fake, token="wrong-pat-abcdef123456")
    assert "HTTP 401" in str(caught.value) and "wrong-pat-abcdef123456" not in str(caught.value)


def test_missing_permission_shows_the_forges_message(azuredevops_fake: AzureDevOpsFake) -> None:
    azuredevops_fake.token_can_write = False
    with pytest.raises(ForgeError, match=r"HTTP 403.*Code \(Read & write\).*PullRequestContribute"):
        upsert(azuredevops_fake)


def test_the_fake_requires_the_api_version(azuredevops_fake: AzureDevOpsFake) -> None:
    auth = "Basic " + base64.b64encode(f":{PAT}".encode()).decode()
    status, body = azuredevops_fake.handle(
        "GET", "/acme/Platform/_apis/git/repositories/deploy/pullrequests", {"Authorization": auth}, b"")
    assert status == 422 and "api-version" in str(body)
    assert azuredevops_fake.take_violations()


def test_the_fake_refuses_a_body_outside_the_description(azuredevops_fake: AzureDevOpsFake) -> None:
    auth = "Basic " + base64.b64encode(f":{PAT}".encode()).decode()
    status, body = azuredevops_fake.handle(
        "POST", "/acme/Platform/_apis/git/repositories/deploy/pullrequests?api-version=7.1",
        {"Authorization": auth, "Content-Type": "application/json"},
        b'{"sourceRefName": "refs/heads/imagebot/updates", "targetRefName": "refs/heads/main", "title": "t",'
        b' "reviewers": [{"id": "x", "mail": "a@b"}], "labels": ["deps"]}')
    assert status == 422
    problems = " ".join(body["errors"])
    assert "'mail' was unexpected" in problems and "'deps' is not of type 'object'" in problems
    assert azuredevops_fake.take_violations()
