from __future__ import annotations

import pytest

from imagebot.update.markers import InvalidMarker, Marker, parse_comment, parse_setter


@pytest.mark.parametrize(
    "comment,expected",
    [
        ('# {"$imagepolicy": "flux-system:app"}', Marker("flux-system:app", "flux-system:app", "image")),
        ('#{"$imagepolicy":"ns:app:tag"}', Marker("ns:app:tag", "ns:app", "tag")),
        ('## {"$imagepolicy": "ns:app:name"}  ', Marker("ns:app:name", "ns:app", "name")),
        ('# {"$imagepolicy": "ns:app:digest", "other": "x"}', Marker("ns:app:digest", "ns:app", "digest")),
        ('# {"$imagepolicy": "app"}', Marker("app", "dflt:app", "image")),
        # two parts are always NAMESPACE:NAME, as in Flux: this is the policy "tag" in namespace "app"
        ('# {"$imagepolicy": "app:tag"}', Marker("app:tag", "app:tag", "image")),
    ],
)
def test_marker_comments(comment: str, expected: Marker) -> None:
    assert parse_comment(comment, "dflt") == expected


@pytest.mark.parametrize(
    "comment",
    ["# just a comment", '# {"$ref": "#/definitions/x"}', "# mentions $imagepolicy in prose",
     '# ["$imagepolicy", "ns:app"]'],
)
def test_comments_that_are_not_markers(comment: str) -> None:
    assert parse_comment(comment, "dflt") is None


@pytest.mark.parametrize(
    "comment,message",
    [
        ('# {"$imagepolicy": ns:app}', "not valid JSON"),
        ('# {"$imagepolicy": 3}', "must be strings"),
        ('# {"$imagepolicy": "ns:app:sha"}', "unknown suffix 'sha'"),
        ('# {"$imagepolicy": "ns::tag"}', "is not NAMESPACE:NAME"),
        ('# {"$imagepolicy": "a:b:tag:x"}', "is not NAMESPACE:NAME"),
    ],
)
def test_broken_markers_say_why(comment: str, message: str) -> None:
    with pytest.raises(InvalidMarker, match=message):
        parse_comment(comment, "dflt")


def test_setter_keeps_the_text_as_written() -> None:
    assert parse_setter("ns:app:tag", "x").setter == "ns:app:tag"
