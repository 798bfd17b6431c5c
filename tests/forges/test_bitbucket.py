"""Bitbucket Cloud (API 2.0) against a fake checked with Atlassian's published swagger.json."""

import asyncio
import base64

import pytest

from imagebot.delivery.forges import ForgeError, PullRequestRequest, forge_for
from tests.support.moreforges import ACCESS_TOKEN, ALICE, APP_PASSWORD, BB_USER, BOB, BitbucketFake

REQUEST = PullRequestRequest(head="imagebot/updates", base="main", title="Update images",
                             body="- apps/web.yaml: nginx 1.25.3 -> 1.25.4", reviewers=(ALICE,))


def upsert(fake: BitbucketFake, req: PullRequestRequest = REQUEST, token: str = ACCESS_TOKEN):
    forge = forge_for("bitbucket", repository_url="git@bitbucket.org:acme/deploy.git", api_url=fake.api_url,
                      token=token)
    return asyncio.run(forge.upsert_pull_request(req))


def test_opens_a_pull_request_with_reviewers_by_uuid(bitbucket_fake: BitbucketFake) -> None:
    pr = upsert(bitbucket_fake)

    assert pr.created and pr.url == f"{bitbucket_fake.url}/acme/deploy/pull-requests/{pr.number}"
    [stored] = bitbucket_fake.repositories["acme/deploy"].pulls
    assert (stored.head, stored.base, stored.title, stored.body) == (
        "imagebot/updates", "main", "Update images", REQUEST.body)
    assert stored.reviewers == [ALICE]
    [listed] = bitbucket_fake.calls("GET", "/repositories/acme/deploy/pullrequests")
    assert dict(listed.query)["q"] == 'source.branch.name = "imagebot/updates" AND destination.branch.name = "main"'
    assert listed.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"


def test_an_app_password_is_sent_as_basic_auth(bitbucket_fake: BitbucketFake) -> None:
    upsert(bitbucket_fake, token=f"{BB_USER}:{APP_PASSWORD}")

    sent = bitbucket_fake.requests[0].headers["authorization"]
    assert sent == "Basic " + base64.b64encode(f"{BB_USER}:{APP_PASSWORD}".encode()).decode()


def test_second_call_updates_and_keeps_the_reviewers_already_asked(bitbucket_fake: BitbucketFake) -> None:
    first = upsert(bitbucket_fake)
    second = upsert(bitbucket_fake, PullRequestRequest(head="imagebot/updates", base="main", title="Update 2 images",
                                                       body="new body", reviewers=(BOB, ALICE)))

    assert (second.number, second.created) == (first.number, False)
    [stored] = bitbucket_fake.repositories["acme/deploy"].pulls
    assert (stored.title, stored.body) == ("Update 2 images", "new body")
    assert stored.reviewers == [ALICE, BOB]  # PUT replaces the list: the client sent both
    [put] = bitbucket_fake.calls("PUT", f"/pullrequests/{first.number}")
    assert put.body["reviewers"] == [{"type": "user", "uuid": ALICE}, {"type": "user", "uuid": BOB}]


def test_an_update_without_reviewers_does_not_drop_them(bitbucket_fake: BitbucketFake) -> None:
    upsert(bitbucket_fake)
    upsert(bitbucket_fake, PullRequestRequest(head="imagebot/updates", base="main", title="t", body="b"))

    assert bitbucket_fake.repositories["acme/deploy"].pulls[0].reviewers == [ALICE]


def test_labels_are_refused_before_any_request(bitbucket_fake: BitbucketFake) -> None:
    with pytest.raises(ForgeError, match=r"pull requests have no labels.*remove `labels`"):
        upsert(bitbucket_fake, PullRequestRequest(head="imagebot/updates", base="main", title="t", body="b",
                                                  labels=("dependencies",)))
    assert bitbucket_fake.requests == []


def test_a_reviewer_that_is_not_a_uuid_is_explained(bitbucket_fake: BitbucketFake) -> None:
    with pytest.raises(ForgeError, match="'alice' is not an account UUID"):
        upsert(bitbucket_fake, PullRequestRequest(head="imagebot/updates", base="main", title="t", body="b",
                                                  reviewers=("alice",)))


def test_a_wrong_app_password_says_so_and_hides_it(bitbucket_fake: BitbucketFake) -> None:
    with pytest.raises(ForgeError) as caught:
        upsert(bitbucket_fake, token=f"{BB_USER}:wrong-pa55word-xyz")
    assert "HTTP 401" in str(caught.value) and "wrong-pa55word-xyz" not in str(caught.value)


def test_the_fake_refuses_a_field_the_description_does_not_have(bitbucket_fake: BitbucketFake) -> None:
    status, body = bitbucket_fake.handle(
        "POST", "/2.0/repositories/acme/deploy/pullrequests", {"Authorization": f"Bearer {ACCESS_TOKEN}",
                                                               "Content-Type": "application/json"},
        b'{"type": "pullrequest", "title": "t", "description": "not in the 2.0 description"}')
    assert status == 422 and "description" in str(body)
    assert bitbucket_fake.take_violations()
