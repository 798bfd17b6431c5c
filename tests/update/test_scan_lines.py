"""The scan reads comments only on lines that hold `$imagepolicy`; lines are what a newline ends,
whatever else YAML counts as a line break (a lone CR, NEL, LS) before a marker."""

from __future__ import annotations

import pytest

from imagebot.update.scan import scan


@pytest.mark.parametrize("brk", ["\n", "\r\n"])
@pytest.mark.parametrize("noise", ["", "# a\rb: 1\n", "# a\x85b: 1\n", "# a\u2028b: 1\n", "note: \"x\ry\"\n"])
def test_markers_after_other_line_breaks_are_found(brk, noise):
    text = (noise + "spec:\n  image: a:1 # {\"$imagepolicy\": \"ns:one\"}\n  list:\n"
            "  # {\"$imagepolicy\": \"ns:two:tag\"}\n  - \"2\"\n  other: b # not a marker\n").replace("\n", brk)
    found = scan(text, "default")
    assert [(t.marker.policy, t.value) for t in found.targets] == [("ns:one", "a:1"), ("ns:two", "2")]
    for target in found.targets:
        assert text[target.start:target.end] in ("a:1", '"2"')


def test_stray_markers_are_still_reported_with_other_line_breaks():
    text = "a: 1\x85\nkey: # {\"$imagepolicy\": \"ns:x\"}\n  sub: 1\nflow: [a, b] # {\"$imagepolicy\": \"ns:y\"}\n"
    problems = [p.message for p in scan(text, "default").problems]
    assert any("whose value is a mapping" in m for m in problems), problems
    assert any("follows a flow collection" in m for m in problems), problems
