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
