"""The ImageRepository exclusionList applies before filterTags and the rule."""

import pytest

from imagebot.policy import Outcome, PolicyError, build_policy


def test_excluded_tags_never_win():
    policy = build_policy(alphabetical="asc", exclusions=[r"^.*\.sig$", "^latest$"])
    assert policy.latest(["sha256-abc.sig", "latest", "1.0", "2.0", "zzz.sig"]) == "2.0"


def test_exclusion_is_unanchored():
    policy = build_policy(semver="*", exclusions=["rc"])
    assert policy.latest(["1.0.0", "1.1.0+rc", "1.1.0"]) == "1.1.0"
    assert policy.latest(["1.0.0", "1.1.0+rc"]) == "1.0.0"


def test_exclusion_applies_before_the_filter():
    policy = build_policy(numerical="asc", filter_pattern=r"^v(\d+)", filter_extract="$1", exclusions=["-debug$"])
    assert policy.latest(["v1", "v2", "v3-debug"]) == "v2"


def test_explain_names_the_pattern():
    verdicts = build_policy(alphabetical="asc", exclusions=["^a", "b$"]).explain(["ab", "c"])
    assert [(v.tag, v.outcome, v.detail) for v in verdicts] == [
        ("c", Outcome.SELECTED, ""),
        ("ab", Outcome.EXCLUDED, "matches exclusionList pattern '^a'"),
    ]


def test_invalid_exclusion_is_an_error():
    with pytest.raises(PolicyError, match=r"exclusionList pattern '\(\?!x\)' is not a valid regular expression"):
        build_policy(alphabetical="asc", exclusions=["ok", "(?!x)"])
