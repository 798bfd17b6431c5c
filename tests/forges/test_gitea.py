import asyncio
import logging

import httpx
import pytest

from imagebot.delivery.forges import ForgeError, PullRequestRequest, forge_for
from tests.support.forgefakes import TOKEN, FakePull, GiteaFake

REQUEST = PullRequestRequest(
    head="imagebot/updates",
    base="main",
    title="Update images",
    body="- apps/web.yaml: nginx 1.25.3 -> 1.25.4",
    labels=("dependencies", "automerge"),
    reviewers=("alice", "acme/platform"),
)


def upsert(
    fake: GiteaFake,
    req: PullRequestRequest = REQUEST,
    token: str = TOKEN,
    repository_url: str = "https://code.example.org/acme/deploy.git",
):
    forge = forge_for("gitea", repository_url=repository_url, api_url=fake.api_url, token=token)
    return asyncio.run(forge.upsert_pull_request(req))


def test_opens_a_pull_request_with_labels_by_id_and_reviewers(gitea_fake: GiteaFake) -> None:
    pr = upsert(gitea_fake)

    assert pr.created is True
    assert pr.url == f"{gitea_fake.url}/acme/deploy/pulls/{pr.number}"
    [stored] = gitea_fake.repositories["acme/deploy"].pulls
    assert (stored.head, stored.base, stored.title) == ("imagebot/updates", "main", "Update images")
    assert stored.labels == ["dependencies", "automerge"]
    assert stored.reviewers == ["alice", "team:platform"]
    [add] = gitea_fake.calls("POST", f"/issues/{pr.number}/labels")
    assert add.body == {"labels": [3, 9]}
    assert add.headers["authorization"] == f"token {TOKEN}"


def test_second_call_updates_the_open_pull_request(gitea_fake: GiteaFake) -> None:
    first = upsert(gitea_fake)
    second = upsert(
        gitea_fake, PullRequestRequest(head="imagebot/updates", base="main", title="Update 2 images", body="new body")
    )

    assert (second.number, second.created) == (first.number, False)
    [stored] = gitea_fake.repositories["acme/deploy"].pulls
    assert (stored.title, stored.body) == ("Update 2 images", "new body")


def test_finds_its_pull_request_past_the_first_page(gitea_fake: GiteaFake) -> None:
    repo = gitea_fake.repositories["acme/deploy"]
    repo.pulls += [FakePull(gitea_fake.next_number(), f"other-{i}", "main", "x", "") for i in range(120)]
    first = upsert(gitea_fake)

    second = upsert(gitea_fake)

    assert (second.number, second.created) == (first.number, False)
    pages = [dict(r.query)["page"] for r in gitea_fake.calls("GET", "/repos/acme/deploy/pulls")]
    assert pages == ["1", "2", "3", "1", "2", "3"]


def test_labels_missing_in_the_repository_are_skipped_with_a_warning(
    gitea_fake: GiteaFake, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        upsert(
            gitea_fake,
            PullRequestRequest(
                head="imagebot/updates", base="main", title="t", body="b", labels=("bug", "no-such-label")
            ),
        )
    assert gitea_fake.repositories["acme/deploy"].pulls[0].labels == ["bug"]
    assert "no-such-label" in caplog.text
    assert "create them" in caplog.text


def test_invalid_token_says_so_and_hides_it(gitea_fake: GiteaFake) -> None:
    with pytest.raises(ForgeError) as caught:
        upsert(gitea_fake, token="gitea-wrong-and-secret")
    assert caught.value.status == 401
    assert "token was rejected" in str(caught.value)
    assert "gitea-wrong-and-secret" not in str(caught.value)


def test_token_without_scope_says_what_it_needs(gitea_fake: GiteaFake) -> None:
    gitea_fake.token_can_write = False
    with pytest.raises(ForgeError) as caught:
        upsert(gitea_fake)
    assert caught.value.status == 403
    assert "write:repository" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_unknown_repository_is_reported_as_not_found_or_no_access(gitea_fake: GiteaFake) -> None:
    with pytest.raises(ForgeError) as caught:
        upsert(gitea_fake, repository_url="git@code.example.org:acme/missing.git")
    assert caught.value.status == 404
    assert "acme/missing not found" in str(caught.value)


def test_refusal_shows_giteas_message(gitea_fake: GiteaFake) -> None:
    with pytest.raises(ForgeError) as caught:
        upsert(gitea_fake, PullRequestRequest(head="imagebot/updates", base="main", title="", body="b"))
    assert caught.value.status == 422
    assert "[Title]: Required" in str(caught.value)


def test_the_fake_rejects_label_names_where_gitea_wants_ids(gitea_fake: GiteaFake) -> None:
    gitea_fake.repositories["acme/deploy"].pulls.append(FakePull(1, "imagebot/updates", "main", "t", "b"))
    response = httpx.post(
        f"{gitea_fake.api_url}/repos/acme/deploy/issues/1/labels?limit=ten",
        headers={"Authorization": f"token {TOKEN}"},
        json={"labels": ["dependencies"]},
    )

    assert response.status_code == 422
    errors = " ".join(response.json()["errors"])
    assert "body['labels'][0]: 'dependencies' is not of type 'integer'" in errors
    assert "query parameter 'limit' is not in the gitea description" in errors
    assert len(gitea_fake.take_violations()) == 1
