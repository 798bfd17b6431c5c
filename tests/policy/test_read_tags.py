"""`policy eval` reads a tags file as stripped, non-empty lines, by the quick path or line by line."""

from __future__ import annotations

import pytest

from imagebot.cli.policy import _read_tags


@pytest.mark.parametrize("text", [
    "a\nb\n", "a\r\nb\r\n\r\n", "\n\na\n\nb", "a\rb\vc\fd\x1ce\x1df\x1eg", "a\x1fb\nc", "a b\nc", " a \n b ",
    "é\nb", "a\x85b\u2028c", "", "\n\n",
])
def test_tags_are_the_stripped_non_empty_lines(tmp_path, text):
    path = tmp_path / "tags.txt"
    path.write_bytes(text.encode())
    tags, times, platforms = _read_tags(path)
    assert tags == [line.strip() for line in text.splitlines() if line.strip()]
    assert times == {} and platforms == {}
