from __future__ import annotations

import pytest

from imagebot.update.scan import event_key, parse_events
from imagebot.update.verify import verify

BEFORE = "a: &x v1 # keep\nb: *x\nc: [1, two]\nd: !!int 3\n"


def keys(text: str, fast: bool) -> list:
    return [event_key(e) for e in parse_events(text, fast)[0]]


@pytest.mark.parametrize("fast", [True, False], ids=["libyaml", "pure"])
@pytest.mark.parametrize(
    "after,expected,problem",
    [
        ("a: &x v2 # keep\nb: *x\nc: [1, two]\nd: !!int 3\n", {1: "v2"}, None),
        ('a: &x "1.10"\nb: *x\nc: [1, two]\nd: !!int 3\n', {1: "1.10"}, None),
        ("a: &x 1.10\nb: *x\nc: [1, two]\nd: !!int 3\n", {1: "1.10"}, "does not read back as a string"),
        ("a: &x v2\nb: *x\nc: [1, three]\nd: !!int 3\n", {1: "v2"}, "changed another value"),
        ("a: &x v2\nb: *x\nc: [1, two, 3]\nd: !!int 3\n", {1: "v2"}, "structure"),
        ("a: &x v2\nb: *x\nc: {1: two}\nd: !!int 3\n", {1: "v2"}, "structure"),
        ("a: &y v2\nb: *y\nc: [1, two]\nd: !!int 3\n", {1: "v2"}, "anchor"),
        ("a: &x v1\nb: *x\nc: [1, two]\nd: !!int v2\n", {7: "v2"}, "explicit tag"),
        ("a: &x v2\nb: *x\nc: [1, two\nd: !!int 3\n", {1: "v2"}, "does not parse"),
        ("a: &x v3\nb: *x\nc: [1, two]\nd: !!int 3\n", {1: "v2"}, "reads back as 'v3'"),
    ],
)
def test_verify_finds_every_unintended_change(fast: bool, after: str, expected: dict, problem: str | None) -> None:
    found = verify(after, keys(BEFORE, fast), expected, fast)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
