"""Bitbucket Data Center/Server (REST API 1.0) against a fake checked with Atlassian's published
Bitbucket Data Center 10.0 OpenAPI description."""

import asyncio
import base64

import pytest

from imagebot.delivery.forges import ForgeError, PullRequestRequest, forge_for
from imagebot.delivery.forges._repo_url import parse_repository_url
from imagebot.delivery.forges.bitbucketserver import default_api_url, project_and_repo
from tests.support.forgefakes import FakePull
from tests.support.moreforges import ACCESS_TOKEN, BB_USER, BitbucketServerFake

REQUEST = PullRequestRequest(head="imagebot/updates", base="main", title="Update images", body="the changes",
                             reviewers=("alice",))


def upsert(fake: BitbucketServerFake, req: PullRequestRequest = REQUEST, token: str = ACCESS_TOKEN,
           repository_url: str = "https://git.corp.example/scm/PLAT/deploy.git"):
    forge = forge_for("bitbucketserver", repository_url=repository_url, api_url=fake.api_url, token=token)
    return asyncio.run(forge.upsert_pull_request(req))


@pytest.mark.parametrize(("url", "context_path", "project", "repo", "api"), [
    ("https://git.corp.example/scm/PLAT/deploy.git", "", "PLAT", "deploy", "https://git.corp.example/rest"),
    ("https://bot@git.corp.example/bitbucket/scm/plat/deploy.git", "bitbucket", "plat", "deploy",
     "https://git.corp.example/bitbucket/rest"),
    ("ssh://git@git.corp.example:7999/PLAT/deploy.git", "", "PLAT", "deploy", "https://git.corp.example/rest"),
    ("https://git.corp.example/scm/~jdoe/sandbox.git", "", "~jdoe", "sandbox", "https://git.corp.example/rest"),
])
def test_project_repository_and_api_from_the_clone_url(url: str, context_path: str, project: str, repo: str,
                                                       api: str) -> None:
    location = parse_repository_url(url)
    assert project_and_repo(location) == (context_path, project, repo)
    assert default_api_url(location) == api


def test_a_url_without_project_and_repository_is_explained() -> None:
    with pytest.raises(ForgeError, match="cannot tell project and repository"):
        project_and_repo(parse_repository_url("https://git.corp.example/scm/a/b/c.git"))


def test_opens_a_pull_request_with_reviewers(bitbucketserver_fake: BitbucketServerFake) -> None:
    pr = upsert(bitbucketserver_fake)

    assert pr.created
    assert pr.url == f"{bitbucketserver_fake.url}/projects/PLAT/repos/deploy/pull-requests/{pr.number}"
    [stored] = bitbucketserver_fake.repositories["PLAT/deploy"].pulls
    assert (stored.head, stored.base, stored.title, stored.body) == ("imagebot/updates", "main", "Update images",
                                                                     "the changes")
    assert stored.reviewers == ["alice"]
    [listed] = bitbucketserver_fake.calls("GET", "/pull-requests")
    assert dict(listed.query) == {"state": "OPEN", "direction": "OUTGOING", "at": "refs/heads/imagebot/updates",
                                  "start": "0", "limit": "100"}
    assert listed.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"


def test_second_call_updates_with_the_current_version_and_keeps_reviewers(
        bitbucketserver_fake: BitbucketServerFake) -> None:
    first = upsert(bitbucketserver_fake)
    upsert(bitbucketserver_fake, PullRequestRequest(head="imagebot/updates", base="main", title="t2", body="b2",
                                                    reviewers=("bob",)))
    third = upsert(bitbucketserver_fake, PullRequestRequest(head="imagebot/updates", base="main", title="t3",
                                                            body="b3"))

    assert (third.number, third.created) == (first.number, False)
    [stored] = bitbucketserver_fake.repositories["PLAT/deploy"].pulls
    assert (stored.title, stored.body, stored.version) == ("t3", "b3", 2)
    assert stored.reviewers == ["alice", "bob"]


def test_finds_its_pull_request_past_the_first_page(bitbucketserver_fake: BitbucketServerFake) -> None:
    repo = bitbucketserver_fake.repositories["PLAT/deploy"]
    # the same source branch into other targets: listed by `at`, skipped by the target check
    repo.pulls += [FakePull(bitbucketserver_fake.next_number(), "imagebot/updates", f"release-{i}", "x", "")
                   for i in range(150)]
    first = upsert(bitbucketserver_fake)

    second = upsert(bitbucketserver_fake)

    assert (second.number, second.created) == (first.number, False)
    starts = [dict(r.query)["start"] for r in bitbucketserver_fake.calls("GET", "/pull-requests")]
    assert starts == ["0", "100", "0", "100"]


def test_username_and_password_are_sent_as_basic_auth(bitbucketserver_fake: BitbucketServerFake) -> None:
    upsert(bitbucketserver_fake, token=f"{BB_USER}:{bitbucketserver_fake.password}")

    expected = base64.b64encode(f"{BB_USER}:{bitbucketserver_fake.password}".encode()).decode()
    assert bitbucketserver_fake.requests[0].headers["authorization"] == f"Basic {expected}"


def test_labels_are_refused(bitbucketserver_fake: BitbucketServerFake) -> None:
    with pytest.raises(ForgeError, match="Bitbucket Server: pull requests have no labels"):
        upsert(bitbucketserver_fake, PullRequestRequest(head="imagebot/updates", base="main", title="t", body="b",
                                                        labels=("deps",)))
    assert bitbucketserver_fake.requests == []


def test_an_unknown_repository_is_reported_with_the_forges_message(bitbucketserver_fake: BitbucketServerFake) -> None:
    with pytest.raises(ForgeError) as caught:
        upsert(bitbucketserver_fake, repository_url="https://git.corp.example/scm/PLAT/nothing.git")
    assert "HTTP 404" in str(caught.value) and "PLAT/nothing" in str(caught.value)


def test_a_token_without_write_permission_says_what_it_needs(bitbucketserver_fake: BitbucketServerFake) -> None:
    bitbucketserver_fake.token_can_write = False
    with pytest.raises(ForgeError, match=r"HTTP 403.*write permission on the repository"):
        upsert(bitbucketserver_fake)


def test_the_fake_refuses_a_field_the_description_does_not_have(bitbucketserver_fake: BitbucketServerFake) -> None:
    status, body = bitbucketserver_fake.handle(
        "POST", "/rest/api/latest/projects/PLAT/repos/deploy/pull-requests",
        {"Authorization": f"Bearer {ACCESS_TOKEN}", "Content-Type": "application/json"},
        b'{"title": "t", "fromRef": {"id": "refs/heads/imagebot/updates", "branch": "x"},'
        b' "toRef": {"id": "refs/heads/main"}, "labels": ["deps"]}')
    assert status == 422
    problems = " ".join(body["errors"])
    assert "'branch' was unexpected" in problems and "'labels' was unexpected" in problems
    assert bitbucketserver_fake.take_violations()
