"""The semver rule: Flux's semver_test.go cases, Flux 2.7's version parsing, ties, loose versions and
real tag sets. fixtures/flux-policy/ checks thousands more against Flux's own code (test_flux_differential)."""

import pytest

from imagebot.policy import build_policy

# (range, tags, expected, strict) -- the first five are Flux's TestSemVer_Latest.
CASES = [
    ("1.0.x", ["1.0.0", "1.0.0.1", "1.0.0p", "1.0.1", "1.2.0", "0.1.0"], "1.0.1", True),
    ("1.0.x", ["v1.2.3", "v1.0.0", "v0.1.0"], "v1.0.0", True),
    ("1.0.x", ["b1.2.3", "b1.0.0", "b0.1.0"], None, True),
    ("1.0.x", [], None, True),
    ("1.0.x", ["1.2.0"], None, True),
    # ties go to the lexicographically greatest tag, whatever the order
    (">=1.0.0", ["1.0.0", "v1.0.0"], "v1.0.0", True),
    (">=1.0.0", ["v1.0.0", "1.0.0"], "v1.0.0", True),
    (">=1.0.0", ["1.0.0+b", "1.0.0+a", "1.0.0"], "1.0.0+b", True),
    # prereleases only when the range asks for them
    (">=1.0.0", ["1.0.0", "1.1.0-rc.1"], "1.0.0", True),
    (">=1.0.0-0", ["1.0.0", "1.1.0-rc.1"], "1.1.0-rc.1", True),
    (">=1.0.0-0", ["1.1.0-rc.1", "1.1.0-rc.2", "1.1.0-rc.10", "1.1.0-beta.9"], "1.1.0-rc.10", True),
    ("*", ["1.0.0", "2.0.0-alpha"], "1.0.0", True),
    # Flux 2.7+: two dots make a version, read leniently (leading zeros, short cores)
    (">=2023.0.0", ["2024.01.15", "2023.12.01"], "2024.01.15", True),
    (">=1.0.0", ["1.02.3", "1.1.0"], "1.02.3", True),
    ("~1", ["1.2+build.5", "0.9.0"], "1.2+build.5", True),  # 1.2.0+build.5
    (">=1.0.0-0", ["1.2-rc.1", "1.1.0"], "1.2-rc.1", True),  # 1.2.0-rc.1
    (">=1.0.0", ["1.2-rc.1", "1.1.0"], "1.1.0", True),  # a prerelease, and the range asks for none
    ("*", ["1.2.3.4", "1.0.0p", "1.0.0"], "1.0.0", True),
    # strict by default: 16.4 has one dot, not a version for Flux; loose reads it
    ("*", ["16.4", "9.6.24", "latest"], "9.6.24", True),
    ("*", ["16.4", "9.6.24", "latest"], "16.4", False),
    ("*", ["16", "16.0", "16.0.0", "v16"], "v16", False),
    ("<23", ["22.04", "22.10", "23.04", "20.04"], "22.10", False),
    ("~3.19", ["3.19", "3.19.1", "3.20", "3.19.0"], "3.19.1", False),
    ("^1", ["1.2.3", "2.0.0", "1.10.0", "1.9.99"], "1.10.0", True),
]


@pytest.mark.parametrize(("range_", "tags", "expected", "strict"), CASES)
def test_latest(range_, tags, expected, strict):
    policy = build_policy(semver=range_, strict=strict)
    assert policy.latest(tags) == expected
    assert policy.latest(list(reversed(tags))) == expected


# Real tag sets: every tag the official image ever published.
CORPUS_CASES = [
    ("postgres", "*", True, "9.6.24"),  # Flux's answer: 16.4 and 17.2 have one dot, not versions for Flux
    ("postgres", ">=0.0.0-0", True, "18.6-alpine3.24"),  # two dots: 18.6.0-alpine3.24, a prerelease
    ("ubuntu", "*", True, "14.04.5"),  # leading zeros: 14.4.5
    ("postgres", "*", False, "18.6"),
    ("postgres", "<17", False, "16.15"),
    ("ubuntu", ">=20.04 <24.10", False, "24.04"),
    ("alpine", "~3.19", False, "3.19.9"),
    ("node", "^20", True, "20.20.2"),
    ("nginx", "1.25.x", True, "1.25.5"),
    ("traefik", "~2.10", True, "v2.10.7"),  # 2.10.7 and v2.10.7 tie: the greatest tag wins
    # 1.22.0-windowsservercore-ltsc2022 is a prerelease of 1.22.0, so below "<1.22" (= <1.22.0)
    ("golang", ">=1.21.0-0 <1.22", True, "1.22.0-windowsservercore-ltsc2022"),
]


@pytest.mark.parametrize(("image", "range_", "strict", "expected"), CORPUS_CASES)
def test_real_tags(tags_of, image, range_, strict, expected):
    assert build_policy(semver=range_, strict=strict).latest(tags_of(image)) == expected


def test_filter_extract_then_semver_on_real_tags(tags_of):
    policy = build_policy(semver="^20", filter_pattern=r"^(?P<v>[0-9.]+)-alpine$", filter_extract="$v")
    assert policy.latest(tags_of("node")) == "20.20.2-alpine"
