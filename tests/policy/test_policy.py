"""build_policy's validation, describe() and explain() as a whole."""

import subprocess
import sys

import pytest

from imagebot.policy import Outcome, PolicyError, Verdict, build_policy


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of semver, alphabetical, numerical or newestBuild; got none"),
        ({"semver": "*", "numerical": "asc"}, "got semver and numerical"),
        ({"semver": "1.0.0p"}, "semver range '1.0.0p' is not valid"),
        ({"semver": "*-*"}, "semver range '\\*-\\*' is not valid"),
        ({"alphabetical": "asc", "exclusions": "^x"}, "a list of patterns"),
    ],
)
def test_invalid_policies(kwargs, message):
    with pytest.raises(PolicyError, match=message):
        build_policy(**kwargs)


def test_policy_error_is_a_value_error():
    assert issubclass(PolicyError, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"semver": ">=1.0.0", "strict": False, "filter_pattern": r"^main-(?P<ts>\d+)", "filter_extract": "$ts"},
         r"semver >=1.0.0 (loose), filter ^main-(?P<ts>\d+) -> $ts"),
        ({"semver": "^1.2"}, "semver ^1.2"),
        ({"alphabetical": "DESC", "filter_pattern": "^rel-"}, "alphabetical desc, filter ^rel-"),
        ({"numerical": "asc", "exclusions": [r"^.*\.sig$"]}, r"numerical asc, excluding ^.*\.sig$"),
    ],
)
def test_describe(kwargs, text):
    assert build_policy(**kwargs).describe() == text


def test_explain_says_what_happened_to_every_tag():
    policy = build_policy(semver="^1.0", filter_pattern=r"^(?:app-)?(?P<v>v?[0-9].*)$", filter_extract="$v",
                          exclusions=[r"\.sig$"])
    tags = ["app-1.2.0", "1.2.0", "1.3.0", "1.1.0", "2.0.0", "1.4.0-rc.1", "1.5", "latest", "1.0.0.sig", "1.3.0"]
    assert policy.explain(tags) == [
        Verdict("1.3.0", Outcome.SELECTED, "extracted '1.3.0'", 1),
        Verdict("1.2.0", Outcome.RANKED, "extracted '1.2.0'", 2),
        Verdict("1.1.0", Outcome.RANKED, "extracted '1.1.0'", 3),
        Verdict("1.0.0.sig", Outcome.EXCLUDED, r"matches exclusionList pattern '\.sig$'"),
        Verdict("1.4.0-rc.1", Outcome.PRERELEASE, "extracted '1.4.0-rc.1': 1.4.0-rc.1 is a prerelease and range "
                "'^1.0' has no prerelease comparator (write e.g. '>=1.0.0-0' to include prereleases)"),
        Verdict("1.5", Outcome.NOT_A_VERSION, "extracted '1.5': not a version for Flux, which wants two dots; "
                "with semver.strict: false (--loose) it reads as 1.5.0"),
        Verdict("2.0.0", Outcome.OUT_OF_RANGE, "extracted '2.0.0': 2.0.0 does not satisfy ^1.0"),
        Verdict("app-1.2.0", Outcome.SAME_VALUE, "extracts '1.2.0' like '1.2.0', which stands for it"),
        Verdict("latest", Outcome.FILTERED_OUT, r"does not match filter pattern '^(?:app-)?(?P<v>v?[0-9].*)$'"),
    ]
    assert policy.latest(tags) == "1.3.0"


def test_importing_the_engine_stays_light():
    heavy = "('re2', 'ruamel', 'httpx', 'pydantic')"
    code = f"import sys, imagebot.policy; print(sorted(m for m in {heavy} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
