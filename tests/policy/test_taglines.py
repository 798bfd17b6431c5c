"""Tags held as text (TagLines, what `policy eval` makes of a tags file of plain tags) select exactly
what the same tags as a list select: the filter searches the text where the tags stand, and only the
tags it keeps become strings.

Each fast path is held to the plain one: TagFilter.apply over the text against the list path and
against tag-by-tag search, Policy.latest over the text against the list, and the tags file reader
against the stripped non-empty lines, with its limits.
"""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path

import pytest

from imagebot.cli.policy import _Invalid, _read_tags
from imagebot.policy import build_policy
from imagebot.policy.filter import TagFilter
from imagebot.policy.taglines import TagLines

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

# The patterns that tell a tag from the joined text (see test_search_joined), with extracts:
# anchors, word boundaries, classes and flags that match newlines, patterns that must fall back,
# groups that may not take part (an empty extraction) and groups that repeat.
CASES = [
    (r"^main-[0-9a-f]+-(?P<ts>[0-9]+)$", "$ts"), (r"^main-[0-9a-f]+-(?P<ts>[0-9]+)$", None),
    (r"^v?(?P<v>.*)$", "$v"), (r"-r1$", None), (r"^", None), (r"$", None), (r"", None), (r"\b", None),
    (r"\B", None), (r"^$", None), (r"\bsig\b", None), (r"[^x]*", None), (r"[^x]+$", None), (r"(?s).*", None),
    (r"(?s)(a.b)", "$1"), (r"\s", None), (r"a\s*$", None), (r"\n", None), (r"a\nb", None), (r"(?m)^b", None),
    (r"(?m)(a)$", "$1"), (r"(?-m)^a", None), (r"\Aa", None), (r"a\z", None), (r"\Qa)b\E", None),
    (r"(a)|(b)", "$1$2"), (r"(a*)*", "$1"), (r"(|a)+", "[$1]"), (r"(a|ab)(c|bcd)(d*)", "$3-$2-$1"),
    (r"(?U)(a+)(a*)", "$2"), (r"[[:^alpha:]]+", None), (r"\pL+", None), (r"é", None), (r"^.$", None),
    (r"(?P<a>x)|(?P<a>y)", "$a"), (r"^[0-9]+(\.[0-9]+)*$", "$1"), (r"(?:^|-)(\d+)$", "$1"),
    (r"^x(?P<n>[0-9]*)$", "$n"), (r"^(?P<a>[0-9]+)\.(?P<b>[0-9]+)", "$b.$a"), (r"(?s)^.*?(\d)(.*)$", "${1}x$2"),
]


@cache
def _tags() -> tuple[str, ...]:
    """Real tags, odd ones (non-ASCII, undecodable bytes, a tag that is a number many ways) and ties."""
    rnd = random.Random(16)
    real = sorted({t for f in sorted((FIXTURES / "tags").glob("*.txt")) for t in f.read_text().split()})
    odd = ["a", "b", "ab", "ba", "abc", "x", "x1", "x01", "x", "sig", "x.sig", "1.2", "1.2.3", "10-1", "aab",
           "1-2-3", "aaa", "é", "éa", "aé", "\udcff", "a\udcff", "\udcffa", "main-a-10", "main-b-10", "main-c-010",
           "main-d-9", "main-0-10", "a\rb", "a b", "1 2"]
    tags = rnd.sample(real, 400) + odd * 2
    rnd.shuffle(tags)
    return tuple(tags)


def _text(tags) -> str:
    return "\n".join(tags)


def _one_by_one(tag_filter: TagFilter, tags) -> dict[str, str]:
    values: dict[str, str] = {}
    for tag in tags:
        if (value := tag_filter.value(tag)) is not None:
            values[value] = min(values.get(value, tag), tag)
    return values


@pytest.mark.parametrize(("pattern", "extract"), CASES)
@pytest.mark.parametrize("ascii_only", [True, False])
def test_filter_over_tag_lines_agrees_with_the_list_and_with_each_tag(pattern, extract, ascii_only):
    tag_filter = TagFilter(pattern, extract)
    tags = [t for t in _tags() if t.isascii() or not ascii_only]
    lines = TagLines(_text(tags))
    expected = _one_by_one(tag_filter, tags)
    assert tag_filter.apply(lines) == expected
    assert tag_filter.apply(list(tags)) == expected


@pytest.mark.parametrize(("pattern", "extract"), CASES)
def test_a_list_with_empty_tags_or_a_tag_holding_a_newline_agrees_with_each_tag(pattern, extract):
    # A list is searched joined when no tag holds a newline: an empty tag is then an empty line, and
    # one that a pattern like ^$ matches.
    tag_filter = TagFilter(pattern, extract)
    tags = list(_tags()[:100])
    for listed in (["", *tags, ""], [*tags[:50], "", "", *tags[50:]], [*tags, "a\nb"], [*tags[:63], ""]):
        assert tag_filter.apply(listed) == _one_by_one(tag_filter, listed), listed[-3:]


@pytest.mark.parametrize(("pattern", "extract"), CASES)
def test_empty_lines_hold_no_tag(pattern, extract):
    # A pattern that matches the empty string (^$, x*) must not find a tag on an empty line.
    tag_filter = TagFilter(pattern, extract)
    tags = list(_tags()[:120])
    text = "\n\n" + "\n\n\n".join(tags[:60]) + "\n\n" + "\n".join(tags[60:]) + "\n\n\n"
    assert tag_filter.apply(TagLines(text)) == _one_by_one(tag_filter, tags)


@pytest.mark.parametrize("window", [1, 16, 100])
def test_small_search_windows_agree_over_tag_lines(monkeypatch, window):
    import imagebot.policy.regex as regex_module

    monkeypatch.setattr(regex_module, "_MIN_WINDOW", min(window, 16))
    monkeypatch.setattr(regex_module, "_WINDOW", window)
    tags = _tags()
    for pattern, extract in CASES:
        tag_filter = TagFilter(pattern, extract)
        assert tag_filter.apply(TagLines(_text(tags))) == _one_by_one(tag_filter, tags), pattern


POLICIES = [
    {"numerical": "asc", "filter_pattern": r"^main-[0-9a-f]+-(?P<ts>[0-9]+)$", "filter_extract": "$ts"},
    {"numerical": "desc", "filter_pattern": r"^main-[0-9a-f]+-(?P<ts>[0-9]+)$", "filter_extract": "$ts"},
    {"numerical": "asc", "filter_pattern": r"^x(?P<n>[0-9]*)$", "filter_extract": "$n"},  # "" is no number
    {"numerical": "asc", "filter_pattern": r"(\d+)$", "filter_extract": "$1"},
    {"alphabetical": "desc", "filter_pattern": r"^(?P<a>[0-9]+)\.(?P<b>[0-9]+)", "filter_extract": "$b.$a"},
    {"alphabetical": "asc", "filter_pattern": r"(?s).*"},
    {"semver": ">=1.0.0", "filter_pattern": r"^v?(?P<v>.*)$", "filter_extract": "$v"},
    {"semver": ">=1.0.0 <100"},
    {"numerical": "asc"},
    {"alphabetical": "asc", "filter_pattern": r"sig", "exclusions": [r"^x\."]},
    {"numerical": "asc", "filter_pattern": r"\bnothing-matches\b"},
]


@pytest.mark.parametrize("kwargs", POLICIES)
def test_policy_over_tag_lines_selects_what_it_selects_over_the_list(kwargs):
    policy = build_policy(**kwargs)
    tags = list(_tags())
    for text in (_text(tags), _text(sorted(tags)), _text(reversed(sorted(tags))), "\n" + _text(tags) + "\n\n", ""):
        lines = TagLines(text)
        plain = [tag for tag in text.split("\n") if tag]
        assert policy.latest(lines) == policy.latest(plain)
        assert policy.latest(lines) == (policy.explain(plain)[0].tag if policy.ranked(plain) else None)


def test_ties_go_as_over_the_list():
    # Equal numbers go to the smallest value (010 before 10), a value to the smallest tag holding it.
    policy = build_policy(numerical="asc", filter_pattern=r"^main-[0-9a-f]+-(?P<ts>[0-9]+)$", filter_extract="$ts")
    for tags, expected in ((["main-b-10", "main-a-10", "main-c-010", "main-d-9"], "main-c-010"),
                           (["main-b-10", "main-d-9", "main-a-10"], "main-a-10"),
                           (["main-b-10", "main-a-10", "main-b-10"], "main-a-10")):
        assert policy.latest(TagLines(_text(tags))) == policy.latest(tags) == expected


def test_tag_lines_are_the_list_of_their_non_empty_lines():
    lines = TagLines("\n\na\nb\n\nc\n")
    assert lines == ["a", "b", "c"] and len(lines) == 3 and list(lines) == ["a", "b", "c"] and lines[1] == "b"
    assert "b" in lines and "" not in lines and lines == TagLines("a\nb\nc")
    assert not TagLines("") and not TagLines("\n\n") and TagLines("\n\n") == [] and len(TagLines("\n")) == 0


@pytest.mark.parametrize("text", ["a\nb\n", "\n\na\n\nb", "a\nb", "\n", "", "main-1-2\n" * 70, "a\n" + "\n" * 80 + "b"])
def test_a_file_of_plain_tags_is_read_as_tag_lines(tmp_path, text):
    path = tmp_path / "tags.txt"
    path.write_bytes(text.encode())
    tags, times, platforms = _read_tags(path)
    assert isinstance(tags, TagLines)
    assert tags == [line.strip() for line in text.splitlines() if line.strip()]
    assert times == {} and platforms == {}


@pytest.mark.parametrize("text", ["a\r\nb", "a b\nc", "é\nb", "a\t2026-03-01T12:00:00Z\n", "a\x1fb"])
def test_other_files_are_read_line_by_line(tmp_path, text):
    path = tmp_path / "tags.txt"
    path.write_bytes(text.encode())
    tags, _, _ = _read_tags(path)
    assert not isinstance(tags, TagLines)


@pytest.mark.parametrize(("too_many", "fine"), [
    ("a\n" * 11, "a\n" * 10), ("\n" * 11, "\n" * 10), ("a\n" * 10 + "b", "a\n" * 9 + "b"),
    ("\n" * 5 + "a\n" * 6, "\n" * 5 + "a\n" * 5), ("a\r\n" * 11, "a\r\n" * 10),
    ("a\t2026-03-01T12:00:00Z\n" * 11, "a\t2026-03-01T12:00:00Z\n" * 10), ("é\n" * 11, "é\n" * 10),
])
def test_too_many_lines_is_an_error_naming_the_limit(tmp_path, monkeypatch, too_many, fine):
    import imagebot.cli.policy as cli_policy

    monkeypatch.setattr(cli_policy, "_MAX_TAG_LINES", 10)
    path = tmp_path / "tags.txt"
    path.write_bytes(too_many.encode())
    with pytest.raises(_Invalid, match=r"tags.txt: more than 10 lines"):
        _read_tags(path)
    path.write_bytes(fine.encode())
    assert _read_tags(path)[0] == [line.split("\t")[0] for line in fine.splitlines() if line.strip()]


def test_too_large_a_file_is_an_error_naming_the_limit(tmp_path, monkeypatch):
    import imagebot.cli.policy as cli_policy

    monkeypatch.setattr(cli_policy, "_MAX_TAG_BYTES", 1 << 20)
    path = tmp_path / "tags.txt"
    path.write_bytes(b"a\n" * (1 << 19))  # exactly 1 MiB: read
    assert len(_read_tags(path)[0]) == 1 << 19
    path.write_bytes(b"a\n" * (1 << 19) + b"b")
    with pytest.raises(_Invalid, match=r"tags.txt: more than 1 MiB"):
        _read_tags(path)


@pytest.mark.parametrize("args", [
    ["--numerical", "asc", "--filter-pattern", r"^main-[0-9a-f]+-(?P<ts>[0-9]+)$", "--filter-extract", "$ts"],
    ["--numerical", "asc", "--filter-pattern", r"^main-[0-9a-f]+-(?P<ts>[0-9]+)$", "--filter-extract", "$ts",
     "--explain"],
    ["--alphabetical", "asc", "--filter-pattern", r"^x(?P<n>[0-9]*)$", "--filter-extract", "$n", "--output", "json"],
    ["--semver", ">=1.0.0", "--filter-pattern", r"^v?(?P<v>.*)$", "--filter-extract", "$v"],
    ["--numerical", "desc", "--filter-pattern", r"nothing"],
])
def test_policy_eval_prints_the_same_for_a_plain_file_and_a_file_read_line_by_line(tmp_path, args):
    import subprocess
    import sys

    tags = [t for t in _tags() if t.isascii() and " " not in t and "\r" not in t]
    plain, crlf = tmp_path / "plain.txt", tmp_path / "crlf.txt"
    plain.write_text("\n".join(tags) + "\n")
    crlf.write_text("\r\n".join(tags) + "\r\n")
    assert isinstance(_read_tags(plain)[0], TagLines) and not isinstance(_read_tags(crlf)[0], TagLines)
    fast, slow = (subprocess.run([sys.executable, "-m", "imagebot", "policy", "eval", *args, "--tags-file", str(path)],
                                 capture_output=True, text=True, timeout=60) for path in (plain, crlf))
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    assert fast.stdout if fast.returncode == 0 else "no tag qualifies" in fast.stderr


def test_the_tag_kept_is_the_one_given_even_where_utf8_would_not_give_it_back():
    # "\udcc3\udca9" (two escaped bytes) encodes to the UTF-8 of "é": the tag must not come back as "é".
    odd = ["\udcc3\udca9", "x\udcc3\udca9", "é", "xé"]
    tags = [f"filler-{i}" for i in range(70)] + odd
    for pattern, extract in ((r"é$", None), (r"^(x?)(.*)$", "$1")):
        tag_filter = TagFilter(pattern, extract)
        expected = _one_by_one(tag_filter, tags)
        assert set(expected.values()) & set(odd)
        assert tag_filter.apply(tags) == expected
        assert tag_filter.apply(TagLines(_text(tags))) == expected
        policy = build_policy(alphabetical="asc", filter_pattern=pattern, filter_extract=extract)
        assert policy.latest(TagLines(_text(tags))) == policy.latest(tags) == expected[max(expected)]
