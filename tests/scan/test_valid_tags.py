"""The listing's tags checked at once give what checking each tag gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from imagebot.grammar import is_tag
from imagebot.scan import _valid_tags

TAGISH = st.text(alphabet="aZ09._-\n\r :/", max_size=12) | st.text(alphabet="ab", min_size=120, max_size=140)


@given(st.lists(TAGISH, max_size=30))
def test_the_one_pass_check_agrees_with_the_grammar(tags: list[str]) -> None:
    valid = [t for t in tags if is_tag(t)]
    assert _valid_tags(tags) == (valid, len(tags) - len(valid))


def test_a_newline_inside_a_tag_cannot_pass_as_two_tags() -> None:
    assert _valid_tags(["1.0\n2.0", "3.0"]) == (["3.0"], 1)
    assert _valid_tags(["1.0", "", "2.0"]) == (["1.0", "2.0"], 1)
