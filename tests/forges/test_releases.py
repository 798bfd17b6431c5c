"""Release notes from the GitHub and Gitea releases APIs, against fakes that check every request and
answer against the forges' published API descriptions: found, found under `v`, missing, rate
limited, anonymous and with a token, and bounded."""

from __future__ import annotations

import asyncio
import logging

import pytest

from imagebot.delivery.forges.releases import MAX_NOTES, fetch_release_notes, release_path
from imagebot.release.source import source_repository
from tests.support.forgefakes import TOKEN, FakeForge, FakeRelease, GiteaFake, GitHubFake


def repo_of(fake: FakeForge, kind: str, path: str = "acme/app"):
    return source_repository(f"{fake.url}/{path}", {f"127.0.0.1:{fake.port}": (kind, fake.api_url)})


@pytest.mark.parametrize("kind", ["github", "gitea", "gitlab"])
def test_notes_of_the_v_prefixed_tag_after_a_404(kind: str, request: pytest.FixtureRequest) -> None:
    fake: FakeForge = request.getfixturevalue(f"{kind}_fake")
    fake.add_repository("acme/app", branches={"main"}).releases["v1.4.2"] = FakeRelease(
        "v1.4.2", "1.4.2: fixes", "* fix the thing\n")

    notes = asyncio.run(fetch_release_notes(repo_of(fake, kind), ["1.4.2", "v1.4.2"], token=TOKEN))

    assert notes is not None
    assert (notes.Title, notes.Text, notes.Truncated) == ("1.4.2: fixes", "* fix the thing\n", False)
    page = "/-/releases/v1.4.2" if kind == "gitlab" else "/releases/tag/v1.4.2"
    assert f"{fake.url}/acme/app{page}" == notes.URL
    paths = [r.path for r in fake.requests]
    assert paths == [fake.base_path + release_path(repo_of(fake, kind), t) for t in ("1.4.2", "v1.4.2")]


def test_anonymous_lookup_sends_no_authorization(github_fake: GitHubFake) -> None:
    github_fake.anonymous_reads = True
    github_fake.add_repository("acme/app", branches={"main"}).releases["2.0.0"] = FakeRelease("2.0.0", "", "notes")

    notes = asyncio.run(fetch_release_notes(repo_of(github_fake, "github"), ["2.0.0"]))

    assert notes is not None and notes.Title == "2.0.0"  # an empty name falls back to the tag
    assert "authorization" not in github_fake.requests[0].headers


def test_missing_release_and_rate_limit_give_none_quietly(github_fake: GitHubFake, gitea_fake: GiteaFake,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    github_fake.add_repository("acme/app", branches={"main"}).releases["1.0.0"] = FakeRelease("1.0.0", "x", "y")
    gitea_fake.add_repository("acme/app", branches={"main"})
    caplog.set_level(logging.INFO, "imagebot.release")

    assert asyncio.run(fetch_release_notes(repo_of(gitea_fake, "gitea"), ["9.9.9", "v9.9.9"], token=TOKEN)) is None
    github_fake.rate_limited = "/releases/"
    assert asyncio.run(fetch_release_notes(repo_of(github_fake, "github"), ["1.0.0", "v1.0.0"],
                                           token=TOKEN)) is None
    assert len([r for r in github_fake.requests if "/releases/" in r.path]) == 1, "a rate limit stops the lookup"
    assert "answered 403 (rate limit or access)" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert TOKEN not in caplog.text


def test_long_notes_are_cut_and_marked(github_fake: GitHubFake) -> None:
    body = "line of notes\n" * 5000  # 70,000 characters
    github_fake.add_repository("acme/app", branches={"main"}).releases["3.0.0"] = FakeRelease("3.0.0", "3", body)

    notes = asyncio.run(fetch_release_notes(repo_of(github_fake, "github"), ["3.0.0"], token=TOKEN))

    assert notes is not None and notes.Truncated and len(notes.Text) == MAX_NOTES


def test_a_forge_that_cannot_be_reached_gives_none() -> None:
    # a port nothing listens on: connection refused at once, no notes, no exception
    repo = source_repository("http://127.0.0.1:9/acme/app", {"127.0.0.1:9": ("github", "http://127.0.0.1:9")})
    assert asyncio.run(fetch_release_notes(repo, ["1.0.0"], token=TOKEN)) is None
