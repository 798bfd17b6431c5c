"""Forgejo: Gitea's client, proven against Forgejo's own swagger (templates/swagger/v1_json.tmpl of
Forgejo's repository), not Gitea's."""

import asyncio
import json
import logging
from pathlib import Path

import pytest

from imagebot.delivery.forges import PullRequestRequest, forge_for
from tests.support.forgefakes import TOKEN
from tests.support.moreforges import ForgejoFake

SPECS = Path(__file__).resolve().parents[2] / "fixtures" / "openapi"
REQUEST = PullRequestRequest(head="imagebot/updates", base="main", title="Update images", body="the changes",
                             labels=("dependencies", "automerge"), reviewers=("alice", "acme/platform"))


def upsert(fake: ForgejoFake, req: PullRequestRequest = REQUEST):
    forge = forge_for("forgejo", repository_url="https://codeberg.org/acme/deploy.git", api_url=fake.api_url,
                      token=TOKEN)
    return asyncio.run(forge.upsert_pull_request(req))


def test_the_fake_is_checked_against_forgejos_description_not_giteas(forgejo_fake: ForgejoFake) -> None:
    assert forgejo_fake.api.source["repository"] == "offsoc/forgejo"
    assert "Forgejo" in forgejo_fake.api.source["note"]
    forgejo, gitea = (json.loads((SPECS / f"{n}.json").read_text())["schemas"] for n in ("forgejo", "gitea"))
    assert forgejo != gitea  # the two forges' descriptions have drifted apart (e.g. Repository, User)


def test_opens_then_updates_a_pull_request_with_labels_and_reviewers(
        forgejo_fake: ForgejoFake, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        first = upsert(forgejo_fake)
        second = upsert(forgejo_fake, PullRequestRequest(head="imagebot/updates", base="main", title="t2", body="b2"))

    assert first.created and (second.number, second.created) == (first.number, False)
    assert first.url == f"{forgejo_fake.url}/acme/deploy/pulls/{first.number}"
    [stored] = forgejo_fake.repositories["acme/deploy"].pulls
    assert (stored.title, stored.body) == ("t2", "b2")
    assert stored.labels == ["dependencies", "automerge"] and stored.reviewers == ["alice", "team:platform"]
    assert "Forgejo: opened pull request" in caplog.text and "Forgejo: updated pull request" in caplog.text
