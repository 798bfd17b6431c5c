"""SemverRule.latest passes over tags early (major below the best so far); it must pick what a plain
walk over every parsed version picks, in any order."""

from __future__ import annotations

import random

import pytest

from imagebot.policy.semver import SemverRule

from .test_search_joined import _tags

EXTRA = ["v2.0.0", "2.0.0", "2.0.0+b", "02.0.0", "2.0.0-rc.1", "10.0.0", "9.9.9", "99999999999999999999.0.0",
         "18446744073709551615.1.1", "3-rc.1.2", "3+b.1.2", "3.1", "16", "v16", "1.2.3.4", "٣.1.1", "².1.1"]


def _reference(rule: SemverRule, tags: list[str]) -> str | None:
    versions = [(v, t) for t in tags if (v := rule._parse(t)) is not None and rule._admits(v)]
    return max(versions)[1] if versions else None


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("constraint", ["*", ">=1.0.0 <100", "^1", "~0.3", ">=3", "<3", "2.x || >=10"])
def test_latest_is_the_greatest_admitted_version(constraint, strict):
    rule = SemverRule(constraint, strict=strict)
    tags = _tags() + EXTRA * 2
    for seed in range(5):
        random.Random(seed).shuffle(tags)
        assert rule.latest(tags) == _reference(rule, tags)


def _mostly_plain_list(rnd: random.Random) -> list[str]:
    def number() -> str:
        return rnd.choice([str(rnd.randint(0, 12))] * 7 + ["0" + str(rnd.randint(0, 9)), str(rnd.randint(0, 10**6)),
                           "9" * rnd.choice([18, 19, 20])])

    def tag() -> str:
        plain = f"{number()}.{number()}.{number()}"
        return rnd.choice([plain] * 12 + ["v" + plain, plain + "-rc.1", plain + "+b1", rnd.choice(EXTRA)])

    return [tag() for _ in range(rnd.randint(1, 80))]


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("constraint", ["*", ">=1.0.0 <100", "^1", "<3", ">=2 <5", "<0.5", ">=100", "!=12.12.12"])
def test_a_listing_of_mostly_plain_versions_is_read_in_bulk_and_selects_the_same(constraint, strict):
    # MAJOR.MINOR.PATCH tags are picked out of the joined listing and compared in C (_best_plain); the
    # others, and equal versions spelt otherwise (02.0.0, v2.0.0, 2.0.0+b), still meet them tag by tag
    from imagebot.policy.semver import _mostly_plain

    rule = SemverRule(constraint, strict=strict)
    rnd = random.Random(f"{constraint} {strict}")
    lists = [_mostly_plain_list(rnd) for _ in range(300)]
    assert sum(map(_mostly_plain, lists)) > 250  # the bulk path is what this test exercises
    for tags in lists:
        assert rule.latest(tags) == _reference(rule, tags), tags
