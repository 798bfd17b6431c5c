"""Release information as Markdown (pull request bodies) and Slack mrkdwn: safe and within limits."""

from __future__ import annotations

from imagebot.release.model import Release, ReleaseNotes
from imagebot.release.render import markdown, slack_links, slack_notes


def release(text: str, *, url: str | None = "https://github.com/acme/app/releases/tag/v2") -> Release:
    return Release(Source="https://github.com/acme/app", Version="2.0.0",
                   Compare="https://github.com/acme/app/compare/v1...v2",
                   Notes=ReleaseNotes(Title="v2 <b>bold</b> [x](y)", Text=text, URL=url))


def test_markdown_quotes_notes_and_defuses_mentions() -> None:
    text = markdown(release("Thanks @octocat and @acme/team!\nmail me: a@b.c\n`@code`"), 10_000)
    assert "[source](https://github.com/acme/app) · [compare](https://github.com/acme/app/compare/v1...v2)" in text
    assert "> Thanks @\u200boctocat and @\u200bacme/team!" in text
    assert "> mail me: a@b.c" in text  # an address is not a mention
    assert "Release notes: v2 \\<b\\>bold\\</b\\> \\[x\\]\\(y\\)" in text  # the title is text, not markup


def test_markdown_cuts_notes_to_the_room_given() -> None:
    text = markdown(release("word " * 20_000), 2_000)
    assert len(text) <= 2_000 + 400
    assert "… (cut) [the whole release](https://github.com/acme/app/releases/tag/v2)" in text
    assert "<details>" not in markdown(release("notes"), 100), "no room: links only"


def test_slack_escapes_control_characters_and_keeps_the_section_limit() -> None:
    notes = slack_notes(release("<!channel> & <https://evil|click>\n" * 500), 3000)
    assert notes is not None and len(notes) <= 3000
    assert "<!channel>" not in notes and "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;" in notes
    assert notes.endswith("…")
    assert not notes.rstrip("…\n").endswith(("&", "&a", "&am", "&l", "&g"))
    links = slack_links(release("x", url="https://example.com/r?a=1|b>c"))
    assert "<https://example.com/r?a=1%7Cb%3Ec|release notes>" in links


def test_slack_notes_absent_without_text() -> None:
    assert slack_notes(release("   "), 3000) is None
    assert slack_notes(Release(Source="https://github.com/acme/app"), 3000) is None
