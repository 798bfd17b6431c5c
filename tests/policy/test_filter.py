"""filterTags: Flux's filter_test.go cases, Go's Regexp.Expand rules, and value-to-tag mapping."""

import re

import pytest

from imagebot.policy import PolicyError, build_policy
from imagebot.policy.filter import TagFilter, build_filter

COMPLEX = ["123-123.123.abcd123-debug", "123-123.123.abcd123", "123-123.123.abcd456-debug", "123-123.123.abcd456"]

# Flux's TestRegexFilter (image-reflector-controller internal/policy/filter_test.go at debe2aa)
FLUX_CASES = [
    ("", None, ["a"], {"a"}),
    ("^ver", None, ["ver1", "ver2", "ver3", "rel1"], {"ver1", "ver2", "ver3"}),
    (r"ver(\d+)", "$1", ["ver1", "ver2", "ver3", "rel1"], {"1", "2", "3"}),
    (r"^(123-[0-9]+\.[0-9]+\.[a-z0-9]+-debug)", None, COMPLEX,
     {"123-123.123.abcd123-debug", "123-123.123.abcd456-debug"}),
    (r"^(?P<tag>123-[0-9]+\.[0-9]+\.[a-z0-9]+[^-debug])", "$tag", COMPLEX,
     {"123-123.123.abcd123", "123-123.123.abcd456"}),
    (r"^(?P<tag>123-[0-9]+\.[0-9]+\.[a-z0-9]+$)", "$tag", COMPLEX, {"123-123.123.abcd123", "123-123.123.abcd456"}),
    ("ver", None, ["a-ver", "verb", "rel"], {"a-ver", "verb"}),  # unanchored
]


@pytest.mark.parametrize(("pattern", "extract", "tags", "values"), FLUX_CASES)
def test_flux_filter_cases(pattern, extract, tags, values):
    assert set(TagFilter(pattern, extract).apply(tags)) == values


def test_no_pattern_keeps_every_tag():
    assert build_filter(None, None) is None
    assert build_policy(alphabetical="asc", filter_pattern="").latest(["a", "b"]) == "b"


# Go's Regexp.Expand: (pattern, template, tag, expansion)
EXPAND_CASES = [
    (r"^main-(?P<ts>\d+)", "$ts", "main-123", "123"),
    (r"^main-(?P<ts>\d+)", "${ts}", "main-123", "123"),
    (r"^(\d+)-(\d+)", "$2.$1", "10-20", "20.10"),
    (r"^(\d+)", "$1x", "7", ""),  # $1x names a group "1x": none, so empty
    (r"^(\d+)", "${1}x", "7", "7x"),
    (r"^(\d+)", "$$1", "7", "$1"),
    (r"^(\d+)", "cost: $", "7", "cost: $"),  # a $ that starts no name is literal
    (r"^(\d+)", "${1", "7", "${1"),  # no closing brace
    (r"^(\d+)", "${}", "7", "${}"),  # an empty name
    (r"^(\d+)", "$-$1", "7", "$-7"),
    (r"^(\d+)", "$0", "7", "7"),
    (r"^(\d+)", "$2", "7", ""),  # no such group
    (r"^(\d+)", "$01", "7", ""),  # leading zero: a name, not a number
    (r"^(\d+)", "$unknown-$1", "7", "-7"),
    (r"^(?:(a)|(b))", "[$1][$2]", "b", "[][b]"),  # a group that did not take part
    (r"v(?P<major>\d+)\.(?P<minor>\d+)", "$major.${minor}.0", "app-v3.14", "3.14.0"),
    (r"^(é+)-(\d+)", "$2$1", "éé-5", "5éé"),
    (r"(\d+)", "$1", "build-42-x", "42"),  # leftmost match, unanchored
    (r"^(?<name>[a-z]+)", "$name", "abc1", "abc"),  # Go 1.22's (?<name>...)
    # several groups may share a name: the first of them that took part
    ("(?P<a>x)|(?P<a>y)", "$a", "y", "y"),
    ("(?P<a>x)|(?P<a>y)", "${a}", "x", "x"),
    ("(?P<a>x)(?P<a>y)", "$a", "xy", "x"),
    ("(?P<a>x)?(?P<a>y)", "[$a]", "y", "[y]"),
]


@pytest.mark.parametrize(("pattern", "template", "tag", "expected"), EXPAND_CASES)
def test_expand_follows_go(pattern, template, tag, expected):
    assert TagFilter(pattern, template).value(tag) == expected


def test_same_value_maps_back_to_the_smallest_tag():
    tag_filter = TagFilter(r"^(?:main|master)-[0-9a-f]+-(?P<ts>\d+)$", "$ts")
    assert tag_filter.apply(["master-beef-5", "main-abcd-5", "main-ffff-4"]) == {"5": "main-abcd-5", "4": "main-ffff-4"}


def test_selected_value_maps_back_to_its_original_tag():
    policy = build_policy(numerical="asc", filter_pattern=r"^main-[0-9a-f]+-(?P<ts>\d+)$", filter_extract="$ts")
    tags = ["main-aaa-1700000000", "main-bbb-1700000500", "main-ccc-1690000000", "latest", "pr-12-1800000000"]
    assert policy.latest(tags) == "main-bbb-1700000500"


@pytest.mark.parametrize("pattern", [r"(?=x)", r"(a)\1", "(", "[z-a]", r"a{1001}"])
def test_invalid_pattern_is_an_error(pattern):
    with pytest.raises(PolicyError, match=r"filterTags pattern .* is not a valid regular expression"):
        build_policy(alphabetical="asc", filter_pattern=pattern)


# RE2 accepts these, Go's regexp (which Flux uses) does not: (pattern, reason)
GO_REFUSES = [
    (r"a\Cb", r"\\C \(any byte\) is not supported"),
    ("(?P<é>a)", "group name 'é' is not valid in Go"),
    ("(?P<名前>a)", "use only letters A-Z, a-z, digits and _"),
    ("(" * 1000 + "a" + ")" * 1000, r"nests deeper than Go's regexp allows \(1000 levels\)"),
    ("a" + "(?:b" * 999 + ")*" * 999, "nests deeper"),
]


@pytest.mark.parametrize(("pattern", "reason"), GO_REFUSES)
def test_patterns_go_refuses_are_errors(pattern, reason):
    with pytest.raises(PolicyError, match=r"is not a valid regular expression for Go, as Flux reads it: .*" + reason):
        build_policy(alphabetical="asc", filter_pattern=pattern)
    with pytest.raises(PolicyError, match=reason):
        build_policy(alphabetical="asc", exclusions=[pattern])


@pytest.mark.parametrize("pattern", [
    "(" * 999 + "a" + ")" * 999,  # 1000 levels: the most Go allows
    "(?:" * 5000 + "a" + ")" * 5000,  # non-capturing groups add no level
    "(?:a|" * 2000 + "b" + ")" * 2000,  # Go merges single-character alternatives into one class
    r"x\Q\C\E", "(?P<_v1>a)", "(?<v>a)",
])
def test_patterns_go_accepts_stay_valid(pattern):
    build_policy(alphabetical="asc", filter_pattern=pattern)


def test_error_quotes_a_long_pattern_shortened():
    with pytest.raises(PolicyError) as raised:
        build_policy(alphabetical="asc", filter_pattern="(" * 3000 + "a" + ")" * 3000)
    assert len(str(raised.value)) < 400


def test_extract_without_pattern_is_an_error():
    with pytest.raises(PolicyError, match="needs a filterTags pattern"):
        build_policy(alphabetical="asc", filter_extract="$1")


def test_go_semantics_not_python():
    # \d is ASCII in Go: an Arabic-Indic digit is not matched.
    assert TagFilter(r"^\d+$").value("١٢") is None
    # $ is the end of the text: no match before a trailing newline.
    assert TagFilter(r"^a$").value("a\n") is None


@pytest.mark.parametrize(("pattern", "extract", "words"), [
    (r"^(\d+)", "$1_$1", "names group '1_'"),
    (r"^(\d+)", "$2", "names group '2'"),
    (r"^x", "$1", "it has no groups"),
    (r"^(?P<ts>\d+)", "${stamp}", "names group 'stamp'"),
    (r"^(?P<ts>\d+)", "$tsx", "write ${ts}x to put 'x' right after group 'ts'"),
])
def test_extract_naming_a_missing_group_is_an_error(pattern, extract, words):
    # Flux expands such a group to nothing, so every tag would rank by the same value: refused instead.
    with pytest.raises(PolicyError, match=re.escape(words)):
        build_policy(numerical="asc", filter_pattern=pattern, filter_extract=extract)


@pytest.mark.parametrize("extract", ["$$1", "cost: $", "${1", "${}", "v${1}_$1", "$0", "literal"])
def test_extract_without_missing_groups_is_valid(extract):
    build_policy(alphabetical="asc", filter_pattern=r"^(\d+)", filter_extract=extract)
