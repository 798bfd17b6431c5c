from __future__ import annotations

import pytest
from ruamel.yaml import YAML

from imagebot.update.splice import Edit, render_scalar, splice


@pytest.mark.parametrize(
    "value,style,in_flow,expected",
    [
        ("v1.2.3", None, False, "v1.2.3"),
        ("ghcr.io/org/app:v2@sha256:" + "a" * 64, None, False, "ghcr.io/org/app:v2@sha256:" + "a" * 64),
        ("1.10", None, False, '"1.10"'),
        ("2024.01", None, False, '"2024.01"'),
        ("yes", None, False, '"yes"'),
        ("on", None, False, '"on"'),
        ("y", None, False, '"y"'),
        ("1e3", None, False, '"1e3"'),
        ("null", None, False, '"null"'),
        ("20230101", None, False, '"20230101"'),
        ("1_000", None, False, '"1_000"'),
        ("0x1F", None, False, '"0x1F"'),
        ("1:20", None, False, '"1:20"'),
        ("2024-01-02", None, False, '"2024-01-02"'),
        ("app:v1", None, True, '"app:v1"'),
        ("v1", None, True, "v1"),
        ("1.10", "'", False, "'1.10'"),
        ("it's", "'", False, "'it''s'"),
        ("1.10", '"', False, '"1.10"'),
        ('a"b\\c', '"', False, '"a\\"b\\\\c"'),
        ("line\nbreak", "'", False, '"line\\nbreak"'),
    ],
)
def test_render_scalar(value: str, style: str | None, in_flow: bool, expected: str) -> None:
    rendered = render_scalar(value, style, in_flow)
    assert rendered == expected
    loaded = YAML(typ="safe", pure=True).load(f"[{rendered}]" if in_flow else f"k: {rendered}")
    assert (loaded[0] if in_flow else loaded["k"]) == value


def test_splice_copies_the_bytes_between_edits() -> None:
    data = "\ufeffé: a\r\nb: 'ü'\r\n".encode()
    text = data.decode()
    start = text.index("'ü'")

    out = splice(data, text, [Edit(start, start + 3, '"x"'), Edit(4, 5, "bb")])

    assert out == "\ufeffé: bb\r\nb: \"x\"\r\n".encode()


def test_overlapping_edits_are_refused() -> None:
    with pytest.raises(ValueError):
        splice(b"abcdef", "abcdef", [Edit(0, 3, "x"), Edit(2, 4, "y")])
