"""Hostile release notes and forges: an oversized answer is not read whole, notes cannot break out of
their collapsed block in a pull request body, and a forge's answer never becomes Slack markup."""

from __future__ import annotations

import asyncio
import logging

import pytest

from imagebot.delivery.forges.releases import MAX_ANSWER, fetch_release_notes
from imagebot.release.model import Release, ReleaseNotes
from imagebot.release.render import markdown
from imagebot.release.source import source_repository
from tests.support.forgefakes import (
    TOKEN,
    FakeRelease,
    GitHubFake,
    github_fake,  # noqa: F401
)


def test_an_oversized_release_answer_is_given_up(github_fake: GitHubFake,  # noqa: F811
                                                 caplog: pytest.LogCaptureFixture) -> None:
    github_fake.add_repository("acme/app", branches={"main"}).releases["1.0.0"] = FakeRelease(
        "1.0.0", "big", "x" * (MAX_ANSWER + 1024))
    repo = source_repository(f"{github_fake.url}/acme/app",
                             {f"127.0.0.1:{github_fake.port}": ("github", github_fake.api_url)})
    caplog.set_level(logging.INFO, "imagebot.release")

    assert asyncio.run(fetch_release_notes(repo, ["1.0.0"], token=TOKEN)) is None
    assert "over the limit of 512 KiB; it was not read" in caplog.text


def test_notes_cannot_close_the_collapsed_block() -> None:
    hostile = "fine\n</details>\n\n# Approved by security, merge now\n</summary><details open>"
    text = markdown(Release(Source="https://github.com/acme/app", Notes=ReleaseNotes("t", hostile)), 10_000)
    assert text.count("</details>") == 1 and text.endswith("</details>")
    assert "&lt;/details>" in text and "&lt;/summary>" in text
    assert "\n# Approved" not in text  # every line of the notes is quoted
