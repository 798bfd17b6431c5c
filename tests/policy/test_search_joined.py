"""Searching many tags at once (joined by newlines) finds exactly what searching each tag alone finds.

GoRegexp.search_each and GoRegexpSet.matching run a pattern over all tags joined, for speed; these
tests hold them to the tag-by-tag answer (spans and groups included) for every valid pattern of
Go's recorded regexps and for patterns chosen to tell a tag from the joined text: anchors, word
boundaries, classes and flags that match newlines, and patterns that must fall back.
"""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path

import pytest

from imagebot.policy import PolicyError, build_policy
from imagebot.policy.regex import GoRegexp, GoRegexpSet

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

TRICKY = [
    r"^main-[0-9a-f]+-(?P<ts>[0-9]+)$", r"^v?(?P<v>.*)$", r"-r1$", r"^", r"$", r"", r"\b", r"\B", r"^$",
    r"\bsig\b", r"\Bsig", r"[^x]*", r"[^x]+$", r"(?s).*", r"(?s)a.b", r"\s", r"a\s*$", r"\n", r"a\nb",
    r"(?m)^b", r"(?m)a$", r"(?-m)^a", r"(?i-m:^A)", r"\Aa", r"a\z", r"\Qa)b\E", r"\Qa", r"(a)|(b)", r"(a*)*",
    r"(|a)+", r"(a|ab)(c|bcd)(d*)", r"x*", r"(?U)(a+)(a*)", r"[[:^alpha:]]+", r"\pL+", r"\PL", r"é", r".",
    r"^.$", r"^..$", r"(?P<a>x)|(?P<a>y)", r"1\.2", r"^[0-9]+(\.[0-9]+)*$", r"(?:^|-)(\d+)$",
]


@cache
def _tags() -> list[str]:
    rnd = random.Random(7)
    real = sorted({t for f in sorted((FIXTURES / "tags").glob("*.txt")) for t in f.read_text().split()})
    odd = ["a", "b", "ab", "ba", "abc", "a b", "a\tb", "x", "", " ", "a\rb", "é", "éa", "aé", "\udcff", "a\udcff",
           "\udcffa", "sig", "x.sig", "sig.x", "1.2", "1.2.3", "10-1", "abcd", "bcd", "aab", "1-2-3", "aaa"]
    tags = rnd.sample(real, 300) + odd * 3
    rnd.shuffle(tags)
    return tags


def _one_by_one(regexp: GoRegexp, tags: list[str]) -> list[tuple[int, list]]:
    found = []
    for index, tag in enumerate(tags):
        encoded = tag.encode("utf-8", "surrogateescape")
        spans = regexp.search(encoded)
        if spans is not None:
            found.append((index, [encoded[s:e] if s >= 0 else None for s, e in spans]))
    return found


def _joined(regexp: GoRegexp, tags: list[str]) -> list[tuple[int, list]]:
    found = []
    for index, haystack, spans in regexp.search_each(tags):
        if isinstance(haystack, str):  # all ASCII: characters are bytes
            assert haystack.isascii()
            haystack = haystack.encode()
        found.append((index, [haystack[s:e] if s >= 0 else None for s, e in spans]))
    return found


@cache
def _recorded_patterns() -> tuple[str, ...]:
    with (FIXTURES / "flux-policy" / "regexps.jsonl").open(encoding="utf-8") as lines:
        return tuple(pattern for pattern, valid, _ in map(json.loads, lines) if valid)


@pytest.mark.parametrize("pattern", TRICKY)
def test_joined_search_finds_each_tags_own_match(pattern):
    regexp = GoRegexp(pattern, "pattern")
    tags = _tags()
    assert _joined(regexp, tags) == _one_by_one(regexp, tags)


def test_joined_search_agrees_for_every_recorded_go_pattern():
    tags = _tags()[:80]  # above the size searched joined
    differ = []
    for pattern in _recorded_patterns():
        try:
            regexp = GoRegexp(pattern, "pattern")
        except PolicyError:
            continue  # refused for a reason of its own (nesting depth)
        if _joined(regexp, tags) != _one_by_one(regexp, tags):
            differ.append(pattern)
    assert not differ, differ[:20]
    assert len(_recorded_patterns()) > 1000


def test_joined_search_is_used_for_plain_patterns_and_refused_for_the_rest():
    assert GoRegexp(r"^main-(?P<ts>\d+)$", "p")._lines is not None
    for pattern in (r"\Aa", r"a\z", r"(?-m)^a", r"\Qa"):
        assert GoRegexp(pattern, "p")._lines is None, pattern


def test_a_tag_holding_a_newline_is_searched_alone():
    tags = ["a", "b\nc"] * 40
    regexp = GoRegexp(r"^c$|^b", "p")
    assert _joined(regexp, tags) == _one_by_one(regexp, tags)


@pytest.mark.parametrize("patterns", [[r"\.sig$"], [r"^1\.", r"alpine"], [r"[^x]*z", r"^$"], [r"\Aa", r"b\z"]])
def test_set_matching_agrees_with_first_match(patterns):
    regexp_set = GoRegexpSet(patterns, "p")
    tags = _tags()
    expected = {i for i, t in enumerate(tags) if regexp_set.first_match(t.encode("utf-8", "surrogateescape"))
                is not None}
    assert regexp_set.matching(tags) == expected


def test_filter_and_exclusion_select_the_same_over_many_tags_as_over_each():
    tags = _tags()
    policy = build_policy(alphabetical="asc", filter_pattern=r"^(?P<a>[0-9]+)\.(?P<b>[0-9]+)", filter_extract="$b.$a",
                          exclusions=[r"^1[0-9]\."])
    values = {}
    for tag in set(tags):
        if policy.exclusion.pattern_for(tag) is None and (value := policy.tag_filter.value(tag)) is not None:
            values[value] = min(values.get(value, tag), tag)
    assert policy.latest(tags) == values[max(values)]


@pytest.mark.parametrize("window", [1, 16, 100, 300])
def test_small_search_windows_agree(monkeypatch, window):
    import imagebot.policy.regex as regex_module

    monkeypatch.setattr(regex_module, "_MIN_WINDOW", min(window, 16))
    monkeypatch.setattr(regex_module, "_WINDOW", window)
    tags = _tags()
    for pattern in TRICKY:
        regexp = GoRegexp(pattern, "pattern")
        assert _joined(regexp, tags) == _one_by_one(regexp, tags), pattern


NUMBERS = ["1", "1.0", "01", "-0", "0", "+0.0", "1e3", "1000", "1E+3", ".5", "5.", "0x1p4", "16", "1_000", "1__0",
           "_1", "1e999", "-1e999", "inf", "NaN", "1.2.3", "", "1e", "e1", "+-1", "1.5e-3", "0x10", "0X1P4", "9" * 400,
           "20240115", "20240115_1200", "2024011512", "1e-400", "-5", "-5.0", "٣", " 1", "1 "]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("mix", ["numbers", "all"])
def test_numerical_over_many_tags_agrees_with_one_by_one(order, mix):
    from imagebot.policy.numerical import NumericalRule

    rule = NumericalRule(order)
    rnd = random.Random(order + mix)
    for _ in range(30):
        pool = [t for t in NUMBERS if mix == "all" or t.lstrip("+-").replace(".", "").replace("e", "").isdigit()]
        tags = [rnd.choice(pool) for _ in range(rnd.randrange(1, 120))]
        if mix == "all":
            tags += rnd.sample(_tags(), 50)
        assert rule.latest(tags) == rule._latest_one_by_one(tags), tags


@pytest.mark.parametrize("pattern", TRICKY)
def test_joined_search_of_ascii_tags_finds_each_tags_own_match(pattern):
    regexp = GoRegexp(pattern, "pattern")
    tags = [tag for tag in _tags() if tag.isascii()]
    assert len(tags) > 64
    assert _joined(regexp, tags) == _one_by_one(regexp, tags)


def test_extract_over_many_ascii_tags_agrees_with_each_tag():
    tags = [tag for tag in _tags() if tag.isascii()]
    policy = build_policy(alphabetical="asc", filter_pattern=r"^(?P<a>[0-9]+)\.(?P<b>[0-9]+)|(?P<c>x)",
                          filter_extract="$b.$a$c")
    values = {}
    for tag in tags:
        if (value := policy.tag_filter.value(tag)) is not None:
            values[value] = min(values.get(value, tag), tag)
    assert policy.tag_filter.apply(tags) == values
    single = build_policy(alphabetical="asc", filter_pattern=r"^(?P<a>[0-9]+)\.", filter_extract="$a").tag_filter
    assert single.apply(tags) == {v: t for v, t in ((single.value(t), t) for t in sorted(tags, reverse=True)) if v}
