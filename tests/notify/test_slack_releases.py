"""Slack messages with release information stay valid Block Kit however many images bring notes."""

from __future__ import annotations

from imagebot.notify import Event, ImageChange, ObjectRef, Severity
from imagebot.notify.slack import MAX_BLOCKS, SECTION_TEXT_MAX, message
from imagebot.release.model import Release, ReleaseNotes
from tests.support.webhookreceiver import validate_slack


def event(images: int) -> Event:
    changes = [ImageChange(f"apps/app{i}.yaml", f"Deployment apps/app{i}", f"app{i}:1.0.0", f"app{i}:2.0.0",
                           Release(Source=f"https://github.com/acme/app{i}",
                                   Compare=f"https://github.com/acme/app{i}/compare/v1...v2",
                                   Notes=ReleaseNotes("v2 <!here>", "* fixed <@U123> & more\n" * 400)))
               for i in range(images)]
    return Event(severity=Severity.INFO, reason="Succeeded", message="committed and pushed", changes=changes,
                 involved_object=ObjectRef("ImageUpdateAutomation", "flux-system", "apps"))


def test_notes_sections_are_escaped_and_cut_to_the_section_limit() -> None:
    payload = message(event(2))
    assert validate_slack(payload) == []
    notes = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section" and "text" in b
             and "fixed" in b["text"]["text"]]
    assert len(notes) == 2 and all(len(n) <= SECTION_TEXT_MAX for n in notes)
    assert "&lt;@U123&gt; &amp; more" in notes[0] and "<@U123>" not in notes[0]
    assert "*v2 &lt;!here&gt;*" in notes[0]
    images = next(b["text"]["text"] for b in payload["blocks"] if "*Images*" in b.get("text", {}).get("text", ""))
    assert "<https://github.com/acme/app0/compare/v1...v2|compare>" in images


def test_many_images_with_notes_stay_within_fifty_blocks() -> None:
    payload = message(event(80))
    assert validate_slack(payload) == []
    assert len(payload["blocks"]) <= MAX_BLOCKS
    assert payload["blocks"][-1]["type"] == "context"
