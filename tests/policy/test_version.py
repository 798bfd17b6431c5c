"""Version parsing: Flux's version.ParseVersion (fluxcd/pkg/version v0.16.0, its own test table
included) and Masterminds' lenient NewVersion, which ``semver.strict: false`` uses."""

import pytest

from imagebot.policy import build_policy
from imagebot.policy.version import format_version, parse_flux, parse_loose

# fluxcd/pkg version/version_test.go TestParseVersion: (version, parses)
FLUX_PARSE_CASES = [
    ("v1.2.3", True),
    ("v2025.07.03", True),
    ("v1.0", False),
    ("v1", False),
    ("v1.2.beta", False),
    ("v1.2-5", False),
    ("v1.2-beta5", False),
    ("\nv1.2", False),
    ("v1.2.0-x.Y.0+metadata", True),
    ("v1.2.0-x.Y.0+metadata-width-hypen", True),
    ("v1.2.3-rc1-with-hypen", True),
    ("v1.2.3.4", False),
]


@pytest.mark.parametrize(("tag", "parses"), FLUX_PARSE_CASES)
def test_flux_parse_version_table(tag, parses):
    assert (parse_flux(tag) is not None) is parses


# (tag, Flux's reading, loose reading); None: not a version.
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
    # leading zeros in the core are read as numbers (CalVer)
    ("01.2.3", "1.2.3", "1.2.3"),
    ("1.02.3", "1.2.3", "1.2.3"),
    ("2024.01.15", "2024.1.15", "2024.1.15"),
    # two dots anywhere make a version for Flux, even with a short core
    ("1.2-rc.1", "1.2.0-rc.1", "1.2.0-rc.1"),
    ("18.6-alpine3.24", "18.6.0-alpine3.24", "18.6.0-alpine3.24"),
    ("1.2+build.5", "1.2.0", "1.2.0"),
    ("16.4-bookworm", None, "16.4.0-bookworm"),
    # fewer than two dots: only the loose reading
    ("16", None, "16.0.0"),
    ("3.19", None, "3.19.0"),
    ("22.04", None, "22.4.0"),
    ("v16", None, "16.0.0"),
    ("1.0.0.1", None, None),
    ("1.0.0p", None, None),
    ("1.2.x", None, None),
    ("latest", None, None),
    ("", None, None),
    ("1.2.3\n", None, None),
    ("１.2.3", None, None),  # a full-width digit is not a digit in Go
    ("18446744073709551615.0.0", "18446744073709551615.0.0", "18446744073709551615.0.0"),
    ("18446744073709551616.0.0", None, None),  # beyond uint64
]


@pytest.mark.parametrize(("tag", "flux", "loose"), PARSE_CASES)
def test_parse(tag, flux, loose):
    parsed_flux, parsed_loose = parse_flux(tag), parse_loose(tag)
    assert (format_version(parsed_flux) if parsed_flux else None) == flux
    assert (format_version(parsed_loose) if parsed_loose else None) == loose


def test_flux_sort_table():
    """fluxcd/pkg version_test.go TestSort: the versions inside the range, best first. Flux's Sort keeps
    equal versions in input order; imagebot ranks them by tag, greatest first, which is the tag
    Flux's SemVer.Latest picks from its tags sorted descending."""
    tags = ["v1.2.0", "v1.2.3", "v1.3.0", "1.2.4", "v1.1.0", "something-invalid", "v1.2.4", "another-invalid",
            "1.2.4"]
    policy = build_policy(semver=">= 1.2.0, < 1.3.0")
    assert [v.tag for v in policy.explain(tags) if v.rank] == ["v1.2.4", "1.2.4", "v1.2.3", "v1.2.0"]
    assert policy.latest(tags) == "v1.2.4"


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
    keys = [parse_flux(v) for v in ascending]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_build_metadata_does_not_affect_precedence():
    assert parse_flux("1.0.0+a") == parse_flux("1.0.0+b") == parse_flux("v1.0.0") == parse_flux("1.00.0")
