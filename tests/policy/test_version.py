import pytest

from imagebot.policy.version import format_version, parse_loose, parse_strict

# (tag, strict reading, loose reading); None: not a version.
PARSE_CASES = [
    ("1.2.3", "1.2.3", "1.2.3"),
    ("v1.2.3", "1.2.3", "1.2.3"),
    ("V1.2.3", None, None),
    ("vv1.2.3", None, None),
    ("1.2.3-rc.1", "1.2.3-rc.1", "1.2.3-rc.1"),
    ("1.2.3-rc.1+build.5", "1.2.3-rc.1", "1.2.3-rc.1"),
    ("1.2.3+build", "1.2.3", "1.2.3"),
    ("1.2.3-0a", "1.2.3-0a", "1.2.3-0a"),
    ("1.2.3--", "1.2.3--", "1.2.3--"),
    ("1.2.3-01", None, None),  # numeric prerelease with a leading zero
    ("1.2.3-", None, None),
    ("1.2.3+", None, None),
    ("1.2.3-a..b", None, None),
    ("01.2.3", None, "1.2.3"),
    ("1.02.3", None, "1.2.3"),
    ("16", None, "16.0.0"),
    ("3.19", None, "3.19.0"),
    ("22.04", None, "22.4.0"),
    ("v16", None, "16.0.0"),
    ("16.4-bookworm", None, "16.4.0-bookworm"),
    ("1.0.0.1", None, None),
    ("1.0.0p", None, None),
    ("latest", None, None),
    ("", None, None),
    ("1.2.3\n", None, None),
    ("１.2.3", None, None),  # a full-width digit is not a digit in Go
    ("18446744073709551615.0.0", "18446744073709551615.0.0", "18446744073709551615.0.0"),
    ("18446744073709551616.0.0", None, None),  # beyond uint64
]


@pytest.mark.parametrize(("tag", "strict", "loose"), PARSE_CASES)
def test_parse(tag, strict, loose):
    parsed_strict, parsed_loose = parse_strict(tag), parse_loose(tag)
    assert (format_version(parsed_strict) if parsed_strict else None) == strict
    assert (format_version(parsed_loose) if parsed_loose else None) == loose


# Each list is in ascending semver precedence (semver.org item 11 plus Masterminds' rules).
ORDER_CASES = [
    ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
     "1.0.0-rc.1", "1.0.0"],
    ["0.9.9", "1.0.0", "1.0.1", "1.1.0", "1.10.0", "2.0.0", "10.0.0"],
    ["1.0.0-2", "1.0.0-10", "1.0.0-A", "1.0.0-a"],  # numbers below text; text in ASCII order
    ["1.0.0-99999999999999999999", "1.0.0-a"],  # beyond uint64 a numeric identifier is text
]


@pytest.mark.parametrize("ascending", ORDER_CASES)
def test_precedence(ascending):
    keys = [parse_strict(v) for v in ascending]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_build_metadata_does_not_affect_precedence():
    assert parse_strict("1.0.0+a") == parse_strict("1.0.0+b") == parse_strict("v1.0.0")
