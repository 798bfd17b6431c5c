import asyncio

import httpx
import pytest

from imagebot.delivery.forges import ForgeError, PullRequestRequest, forge_for
from tests.support.forgefakes import TOKEN, GitLabFake

REPOSITORY_URL = "git@gitlab.example.com:platform/apps/deploy.git"  # a project in a subgroup
REQUEST = PullRequestRequest(
    head="imagebot/updates",
    base="main",
    title="Update images",
    body="- apps/web.yaml: nginx 1.25.3 -> 1.25.4",
    labels=("dependencies", "automerge"),
    reviewers=("12", "40"),
)


def upsert(
    fake: GitLabFake, req: PullRequestRequest = REQUEST, token: str = TOKEN, repository_url: str = REPOSITORY_URL
):
    forge = forge_for("gitlab", repository_url=repository_url, api_url=fake.api_url, token=token)
    return asyncio.run(forge.upsert_pull_request(req))


def test_opens_a_merge_request_with_labels_and_reviewers(gitlab_fake: GitLabFake) -> None:
    mr = upsert(gitlab_fake)

    assert mr.created is True
    assert mr.url == f"{gitlab_fake.url}/platform/apps/deploy/-/merge_requests/{mr.number}"
    [stored] = gitlab_fake.repositories["platform/apps/deploy"].pulls
    assert (stored.head, stored.base, stored.title, stored.body) == (
        "imagebot/updates",
        "main",
        "Update images",
        "- apps/web.yaml: nginx 1.25.3 -> 1.25.4",
    )
    assert stored.labels == ["dependencies", "automerge"]
    assert stored.reviewers == ["12", "40"]


def test_the_project_path_is_url_encoded_as_one_segment(gitlab_fake: GitLabFake) -> None:
    upsert(gitlab_fake)

    [listing] = gitlab_fake.calls("GET", "/merge_requests")
    assert listing.path == "/api/v4/projects/platform%2Fapps%2Fdeploy/merge_requests"
    assert dict(listing.query) == {
        "state": "opened",
        "source_branch": "imagebot/updates",
        "target_branch": "main",
        "per_page": "100",
    }
    assert listing.headers["private-token"] == TOKEN


def test_second_call_updates_the_open_merge_request_and_keeps_reviewers(gitlab_fake: GitLabFake) -> None:
    first = upsert(gitlab_fake)
    second = upsert(
        gitlab_fake,
        PullRequestRequest(
            head="imagebot/updates",
            base="main",
            title="Update 2 images",
            body="new body",
            labels=("security",),
            reviewers=("7",),
        ),
    )

    assert (second.number, second.created) == (first.number, False)
    [stored] = gitlab_fake.repositories["platform/apps/deploy"].pulls
    assert (stored.title, stored.body) == ("Update 2 images", "new body")
    assert stored.labels == ["dependencies", "automerge", "security"]
    [put] = gitlab_fake.calls("PUT", f"/merge_requests/{first.number}")
    assert put.body["add_labels"] == ["security"]
    assert 7 in put.body["reviewer_ids"]


def test_reviewers_must_be_user_ids(gitlab_fake: GitLabFake) -> None:
    with pytest.raises(ForgeError, match="'alice' is not a user ID"):
        upsert(
            gitlab_fake,
            PullRequestRequest(head="imagebot/updates", base="main", title="t", body="b", reviewers=("alice",)),
        )
    assert gitlab_fake.requests == []


def test_invalid_token_says_so_and_hides_it(gitlab_fake: GitLabFake) -> None:
    with pytest.raises(ForgeError) as caught:
        upsert(gitlab_fake, token="glpat-wrong-and-secret")
    assert caught.value.status == 401
    assert "token was rejected" in str(caught.value)
    assert "glpat-wrong-and-secret" not in str(caught.value)


def test_token_without_api_scope_says_what_it_needs(gitlab_fake: GitLabFake) -> None:
    gitlab_fake.token_can_write = False
    with pytest.raises(ForgeError) as caught:
        upsert(gitlab_fake)
    assert caught.value.status == 403
    assert "the `api` scope" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_unknown_project_is_reported_as_not_found_or_no_access(gitlab_fake: GitLabFake) -> None:
    with pytest.raises(ForgeError) as caught:
        upsert(gitlab_fake, repository_url="https://gitlab.example.com/platform/missing.git")
    assert caught.value.status == 404
    assert "platform/missing not found" in str(caught.value)


def test_refusal_shows_gitlabs_message(gitlab_fake: GitLabFake) -> None:
    with pytest.raises(ForgeError) as caught:
        upsert(gitlab_fake, PullRequestRequest(head="gone", base="main", title="t", body="b"))
    assert caught.value.status == 422
    assert "Source branch 'gone' does not exist" in str(caught.value)


def test_the_fake_rejects_what_gitlab_would_reject(gitlab_fake: GitLabFake) -> None:
    response = httpx.post(
        f"{gitlab_fake.api_url}/projects/platform%2Fapps%2Fdeploy/merge_requests",
        headers={"PRIVATE-TOKEN": TOKEN},
        json={"source_branch": "imagebot/updates", "title": "t", "reviewer_ids": ["alice"], "body": "x"},
    )

    assert response.status_code == 422
    errors = " ".join(response.json()["errors"])
    assert "'target_branch' is a required property" in errors
    assert "body['reviewer_ids'][0]: 'alice' is not of type 'integer'" in errors
    assert "'body' was unexpected" in errors
    assert len(gitlab_fake.take_violations()) == 1


def test_the_fake_checks_path_parameter_types(gitlab_fake: GitLabFake) -> None:
    response = httpx.put(
        f"{gitlab_fake.api_url}/projects/platform%2Fapps%2Fdeploy/merge_requests/first",
        headers={"PRIVATE-TOKEN": TOKEN},
        json={"title": "t"},
    )
    assert response.status_code == 422
    assert "path parameter merge_request_iid" in " ".join(response.json()["errors"])
    gitlab_fake.take_violations()
