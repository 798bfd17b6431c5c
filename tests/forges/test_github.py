import asyncio

import httpx
import pytest

from imagebot.delivery.forges import ForgeError, PullRequestRequest, forge_for
from tests.support.forgefakes import TOKEN, GitHubFake

REQUEST = PullRequestRequest(
    head="imagebot/updates",
    base="main",
    title="Update images",
    body="- apps/web.yaml: nginx 1.25.3 -> 1.25.4",
    labels=("dependencies", "automerge"),
    reviewers=("alice", "acme/platform"),
)


def upsert(fake: GitHubFake, req: PullRequestRequest = REQUEST, token: str = TOKEN):
    forge = forge_for("github", repository_url="git@github.com:acme/deploy.git", api_url=fake.api_url, token=token)
    return asyncio.run(forge.upsert_pull_request(req))


def test_opens_a_pull_request_with_labels_and_reviewers(github_fake: GitHubFake) -> None:
    pr = upsert(github_fake)

    assert pr.created is True
    assert pr.url == f"{github_fake.url}/acme/deploy/pull/{pr.number}"
    [stored] = github_fake.repositories["acme/deploy"].pulls
    assert (stored.head, stored.base, stored.title, stored.body) == (
        "imagebot/updates",
        "main",
        "Update images",
        "- apps/web.yaml: nginx 1.25.3 -> 1.25.4",
    )
    assert stored.labels == ["dependencies", "automerge"]
    assert stored.reviewers == ["alice", "team:platform"]
    [ask] = github_fake.calls("POST", f"/pulls/{pr.number}/requested_reviewers")
    assert ask.body == {"reviewers": ["alice"], "team_reviewers": ["platform"]}


def test_second_call_updates_the_open_pull_request(github_fake: GitHubFake) -> None:
    first = upsert(github_fake)
    second = upsert(
        github_fake,
        PullRequestRequest(
            head="imagebot/updates", base="main", title="Update 2 images", body="new body", labels=("dependencies",)
        ),
    )

    assert (second.number, second.created) == (first.number, False)
    [stored] = github_fake.repositories["acme/deploy"].pulls
    assert (stored.title, stored.body) == ("Update 2 images", "new body")
    assert len(github_fake.calls("POST", "/repos/acme/deploy/pulls")) == 1
    [patch] = github_fake.calls("PATCH", f"/pulls/{first.number}")
    assert patch.body == {"title": "Update 2 images", "body": "new body"}


def test_lists_by_owner_qualified_head_and_sends_github_headers(github_fake: GitHubFake) -> None:
    upsert(github_fake)

    [listing] = github_fake.calls("GET", "/repos/acme/deploy/pulls")
    assert dict(listing.query) == {"head": "acme:imagebot/updates", "base": "main", "state": "open", "per_page": "100"}
    assert listing.headers["accept"] == "application/vnd.github+json"
    assert listing.headers["x-github-api-version"] == "2022-11-28"
    assert listing.headers["authorization"] == f"Bearer {TOKEN}"


def test_a_closed_pull_request_of_the_same_head_is_not_reused(github_fake: GitHubFake) -> None:
    first = upsert(github_fake)
    github_fake.repositories["acme/deploy"].pulls[0].state = "closed"

    second = upsert(github_fake)

    assert second.created is True
    assert second.number != first.number


def test_invalid_token_says_so_and_hides_it(github_fake: GitHubFake) -> None:
    with pytest.raises(ForgeError) as caught:
        upsert(github_fake, token="tok-wrong-and-secret")
    message = str(caught.value)
    assert caught.value.status == 401
    assert "token was rejected" in message
    assert "tok-wrong-and-secret" not in message


def test_token_without_write_scope_says_what_it_needs(github_fake: GitHubFake) -> None:
    github_fake.token_can_write = False
    with pytest.raises(ForgeError) as caught:
        upsert(github_fake)
    assert caught.value.status == 403
    assert "lacks the permission" in str(caught.value)
    assert "Pull requests: write" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_unknown_repository_is_reported_as_not_found_or_no_access(github_fake: GitHubFake) -> None:
    forge = forge_for(
        "github", repository_url="https://github.com/acme/missing", api_url=github_fake.api_url, token=TOKEN
    )
    with pytest.raises(ForgeError) as caught:
        asyncio.run(forge.upsert_pull_request(REQUEST))
    assert caught.value.status == 404
    assert "acme/missing not found" in str(caught.value)
    assert "no access" in str(caught.value)


def test_validation_failure_shows_the_forges_message(github_fake: GitHubFake) -> None:
    with pytest.raises(ForgeError) as caught:
        upsert(github_fake, PullRequestRequest(head="no-such-branch", base="main", title="t", body="b"))
    assert caught.value.status == 422
    assert "Validation Failed" in str(caught.value)
    assert "field=head" in str(caught.value)


def test_the_fake_rejects_what_github_would_reject(github_fake: GitHubFake) -> None:
    response = httpx.post(
        f"{github_fake.api_url}/repos/acme/deploy/pulls?sort=bogus",
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
        json={"title": 42, "head": "imagebot/updates", "base": "main", "reviewers": ["alice"]},
    )

    assert response.status_code == 422
    errors = " ".join(response.json()["errors"])
    assert "body['title']: 42 is not of type 'string'" in errors
    assert "'reviewers' was unexpected" in errors
    assert "query parameter 'sort' is not in the github description" in errors
    assert len(github_fake.take_violations()) == 1
    assert github_fake.repositories["acme/deploy"].pulls == []


def test_the_fake_requires_the_github_headers(github_fake: GitHubFake) -> None:
    response = httpx.get(f"{github_fake.api_url}/repos/acme/deploy/pulls", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 422
    assert any("X-GitHub-Api-Version" in e for e in response.json()["errors"])
    github_fake.take_violations()
