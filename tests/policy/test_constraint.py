"""Masterminds semver v3 constraint semantics, as tables ported from its constraints_test.go and from
Flux's semver_test.go, plus the prerelease-per-AND-group rule of Masterminds 3.4."""

import pytest

from imagebot.policy import PolicyError
from imagebot.policy.constraint import compile_constraint
from imagebot.policy.version import parse_loose

CHECK_CASES = [
    ("=2.0.0", "1.2.3", False), ("=2.0.0", "2.0.0", True), ("=2.0", "1.2.3", False), ("=2.0", "2.0.0", True),
    ("=2.0", "2.0.1", True), ("4.1", "4.1.0", True), ("!=4.1.0", "4.1.0", False), ("!=4.1.0", "4.1.1", True),
    ("!=4.1", "4.1.0", False), ("!=4.1", "4.1.1", False), ("!=4.1", "5.1.0-alpha.1", False),
    ("!=4.1-alpha", "4.1.0", True), ("!=4.1", "5.1.0", True), ("<11", "0.1.0", True), ("<11", "11.1.0", False),
    ("<1.1", "0.1.0", True), ("<1.1", "1.1.0", False), ("<1.1", "1.1.1", False), ("<=11", "1.2.3", True),
    ("<=11", "12.2.3", False), ("<=11", "11.2.3", True), ("<=1.1", "1.2.3", False), ("<=1.1", "0.1.0", True),
    ("<=1.1", "1.1.0", True), ("<=1.1", "1.1.1", True), (">1.1", "4.1.0", True), (">1.1", "1.1.0", False),
    (">0", "0", False), (">0", "1", True), (">0", "0.0.1-alpha", False), (">0.0", "0.0.1-alpha", False),
    (">0-0", "0.0.1-alpha", False), (">0.0-0", "0.0.1-alpha", False), (">0", "0.0.0-alpha", False),
    (">0-0", "0.0.0-alpha", False), (">0.0.0-0", "0.0.0-alpha", True), (">1.2.3-alpha.1", "1.2.3-alpha.2", True),
    (">1.2.3-alpha.1", "1.3.3-alpha.2", True), (">11", "11.1.0", False), (">11.1", "11.1.0", False),
    (">11.1", "11.1.1", False), (">11.1", "11.2.1", True), (">=11", "11.1.2", True), (">=11.1", "11.1.2", True),
    (">=11.1", "11.0.2", False), (">=1.1", "4.1.0", True), (">=1.1", "1.1.0", True), (">=1.1", "0.0.9", False),
    (">=0", "0.0.1-alpha", False), (">=0.0", "0.0.1-alpha", False), (">=0-0", "0.0.1-alpha", True),
    (">=0.0-0", "0.0.1-alpha", True), (">=0", "0.0.0-alpha", False), (">=0-0", "0.0.0-alpha", True),
    (">=0.0.0-0", "0.0.0-alpha", True), (">=0.0.0-0", "1.2.3", True), (">=0.0.0-0", "3.4.5-beta.1", True),
    ("<0", "0.0.0-alpha", False), ("<0-z", "0.0.0-alpha", True), (">=0", "0", True), ("=0", "1", False),
    ("*", "1", True), ("*", "4.5.6", True), ("*", "1.2.3-alpha.1", False), ("*-0", "1.2.3-alpha.1", True),
    ("2.*", "1", False), ("2.*", "3.4.5", False), ("2.*", "2.1.1", True), ("2.1.*", "2.1.1", True),
    ("2.1.*", "2.2.1", False), ("2", "1", False), ("2", "3.4.5", False), ("2", "2.1.1", True),
    ("2.1", "2.1.1", True), ("2.1", "2.2.1", False), ("~1.2.3", "1.2.4", True), ("~1.2.3", "1.3.4", False),
    ("~1.2", "1.2.4", True), ("~1.2", "1.3.4", False), ("~1", "1.2.4", True), ("~1", "2.3.4", False),
    ("~0.2.3", "0.2.5", True), ("~0.2.3", "0.3.5", False), ("~1.2.3-beta.2", "1.2.3-beta.4", True),
    ("~1.2.3-beta.2", "1.2.4-beta.2", True), ("~1.2.3-beta.2", "1.3.4-beta.2", False), ("^1.2.3", "1.8.9", True),
    ("^1.2.3", "2.8.9", False), ("^1.2.3", "1.2.1", False), ("^1.1.0", "2.1.0", False), ("^1.2.0", "2.2.1", False),
    ("^1.2.0", "1.2.1-alpha.1", False), ("^1.2.0-alpha.0", "1.2.1-alpha.1", True),
    ("^1.2.0-alpha.0", "1.2.1-alpha.0", True), ("^1.2.0-alpha.2", "1.2.0-alpha.1", False), ("^1.2", "1.8.9", True),
    ("^1.2", "2.8.9", False), ("^1", "1.8.9", True), ("^1", "2.8.9", False), ("^0.2.3", "0.2.5", True),
    ("^0.2.3", "0.5.6", False), ("^0.2", "0.2.5", True), ("^0.2", "0.5.6", False), ("^0.0.3", "0.0.3", True),
    ("^0.0.3", "0.0.4", False), ("^0.0", "0.0.3", True), ("^0.0", "0.1.4", False), ("^0.0", "1.0.4", False),
    ("^0", "0.2.3", True), ("^0", "1.1.4", False), ("^0.2.3-beta.2", "0.2.3-beta.4", True),
    ("^0.2.3-beta.2", "0.2.4-beta.2", True), ("^0.2.3-beta.2", "0.3.4-beta.2", False),
    ("^0.2.3-beta.2", "0.2.3-beta.2", True),
    # TestConstraintsCheck: whole constraint strings
    ("~0.0.0", "1.2.3", True), ("0.x.x", "1.2.3", False), ("0.0.x", "1.2.3", False), ("0.0.0", "1.2.3", False),
    ("^0.0.0", "1.2.3", False), ("= 2.0", "1.2.3", False), ("= 2.0", "2.0.0", True), ("4.1.x", "4.1.3", True),
    ("1.x", "1.4", True), ("!=4.1-alpha", "4.1.0-alpha", False), ("!=4.1-alpha", "4.1.1-alpha", False),
    ("!=4.x", "5.1.0", True), ("!=4.x", "4.1.0", False), ("!=4.1.x", "4.2.0", True), ("!=4.2.x", "4.2.3", False),
    ("<1.x", "1.1.1", False), ("<1.x", "0.1.1", True), ("<1.x", "2.0.0", False), ("<1.1.x", "1.2.1", False),
    ("<1.1.x", "1.1.500", False), ("<1.1.x", "1.0.500", True), ("<1.2.x", "1.1.1", True),
    (">=1.1", "4.1.0-beta", False), ("<=1.1", "0.1.0-alpha", False), ("<=1.1-a", "0.1.0-alpha", True),
    ("<=1.x", "1.1.0", True), ("<=2.x", "3.0.0", False), ("<=1.1.x", "1.2.500", False), ("<=4.5", "3.4.0", True),
    ("<=4.5", "3.7.0", True), ("<=4.5", "4.6.3", False), (">1.1, <2", "1.1.1", False), (">1.1, <2", "1.2.1", True),
    (">1.1, <3", "4.3.2", False), (">=1.1, <2, !=1.2.3", "1.2.3", False), (">1.1 <2", "1.1.1", False),
    (">1.1 <2", "1.2.1", True), (">1.1    <3", "4.3.2", False), (">=1.1    <2    !=1.2.3", "1.2.3", False),
    (">=1.1, <2, !=1.2.3 || > 3", "4.1.2", True), (">=1.1, <2, !=1.2.3 || > 3", "3.1.2", False),
    (">=1.1, <2, !=1.2.3 || >= 3", "3.0.0", True), (">=1.1, <2, !=1.2.3 || > 3", "3.0.0", False),
    (">=1.1, <2, !=1.2.3 || > 3", "1.2.3", False), (">= 1.1 <2 != 1.2.3 || >= 3", "3.0.0", True),
    ("> 1.1, <     2", "1.1.1", False), (">   1.1, <2", "1.2.1", True), (">=1.1    < 2    != 1.2.3", "1.2.3", False),
    ("1.1 - 2", "1.1.1", True), ("1.5.0 - 4.5", "3.7.0", True), ("1.1-3", "4.3.2", False), ("^1.1", "1.1.1", True),
    ("^1.1", "4.3.2", False), ("^1.x", "1.1.1", True), ("^2.x", "1.1.1", False), ("^1.x", "2.1.1", False),
    ("^1.x", "1.1.1-beta1", False), ("^1.1.2-alpha", "1.2.1-beta1", True), ("^1.2.x-alpha", "1.1.1-beta1", False),
    ("^0.0.1", "0.0.1", True), ("^0.0.1", "0.3.1", False), ("~*", "2.1.1", True), ("~1", "2.1.1", False),
    ("~1", "1.3.5", True), ("~1", "1.4", True), ("~1.x", "2.1.1", False), ("~1.x", "1.3.5", True),
    ("~1.1", "1.1.1-alpha", False), ("~1.1-alpha", "1.1.1-beta", True), ("~1.1.1-beta", "1.1.1-alpha", False),
    ("~1.1.1-beta", "1.1.1", True), ("~1.2.3", "1.2.2", False), ("~1.1", "1.2.3", False), ("~1.3", "2.4.5", False),
    ("~1.3.6-alpha", "1.3.5-beta", False), ("~1.3.5-alpha", "1.3.5-beta", True), ("^1.1.1-beta", "1.1.1-alpha", False),
    ("1.0.0 - 2.0.0 <=2.0.0", "1.5.0", True), ("1.0.0 - 2.0.0, <=2.0.0", "1.5.0", True),
    ("v1.2.x", "1.2.9", True), ("~> 1.2", "1.2.9", True), ("=> 1.2", "1.2.0", True), ("=< 1.2", "1.2.9", True),
    # Masterminds 3.4: a prerelease is admitted only by an AND group that has a prerelease comparator.
    (">=1.0.0-0 <2 || >=3", "1.5.0-rc.1", True), (">=1.0.0-0 <2 || >=3", "3.1.0-rc.1", False),
    (">=1.0.0 <2 || >=3.0.0-0", "3.1.0-rc.1", True), ("<2, >=0.0.0-0", "1.0.0-rc.1", True),
    (">=1.21.0-0 <1.22", "1.22.0-rc.1", True),  # 1.22.0-rc.1 < 1.22.0, as Masterminds compares
]


@pytest.mark.parametrize(("constraint", "version", "admitted"), CHECK_CASES)
def test_admits(constraint, version, admitted):
    assert compile_constraint(constraint).admits(parse_loose(version)) is admitted


# (constraint, OR groups, comparators in the first group)
VALID = [
    (">= 1.1", 1, 1), (">40.50.60, < 50.70", 1, 2), ("2.0", 1, 1), ("v2.3.5-20161202202307-sha.e8fc5e5", 1, 1),
    (">= 1.2.3 < 2.0", 1, 2), (">= 1.2.3 < 2.0 || => 3.0 < 4", 2, 2), (">= 1.2.3, < 2.0", 1, 2),
    (">= 1.2.3, < 2.0 || => 3.0, < 4", 2, 2), ("3 - 4 || => 3.0, < 4", 2, 2), ("12.3.34 ~1.2.3", 1, 2),
    ("1.0.0 - 2.0.0, <=2.0.0", 1, 3), ("1.0.x", 1, 1), ("^1.0", 1, 1), ("=1.0.0", 1, 1), ("~1.0", 1, 1),
    (">=1.0", 1, 1), (">0,<2.0", 1, 2), ("*", 1, 1), ("  >=1.0  ", 1, 1), ("1.x.x", 1, 1),
]


@pytest.mark.parametrize(("text", "ors", "ands"), VALID)
def test_valid_constraints(text, ors, ands):
    constraint = compile_constraint(text)
    assert len(constraint.groups) == ors
    assert len(constraint.groups[0].comparators) == ands


INVALID = [
    ">= bar", "BAR >= 1.2.3", "12.3.4.1234", "12.23.4.1234", "12.3.34.1234", "12.3.34~ 1.2.3",
    "1.0.0p", "1x", "x1", "-1", "a", "", "*-*", "1.0,", ",1.0", ">1.0,,<2", "1.0 ||", "|| 1.0", "> =1.0",
    "==1.0", "1.0.0-", "1.0.0+", "1.2.3.4", "~=1.2", "18446744073709551616",
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_constraints_say_what_is_expected(text):
    with pytest.raises(PolicyError) as raised:
        compile_constraint(text)
    message = str(raised.value)
    assert repr(text) in message
    assert "expected Masterminds semver constraints" in message


def test_hyphen_range_needs_spaces_and_includes_both_ends():
    between = compile_constraint("1.2 - 1.4.5")
    assert between.admits(parse_loose("1.2.0")) and between.admits(parse_loose("1.4.5"))
    assert not between.admits(parse_loose("1.4.6"))
    # Without spaces "1.2-1.4.5" is 1.2 with prerelease "1.4.5": a ~1.2 that admits prereleases.
    assert compile_constraint("1.2-1.4.5").admits(parse_loose("1.2.7-rc.1"))
