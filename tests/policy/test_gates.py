"""The pure parts of newestBuild, minimumAge and platforms: ranking and judging plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagebot.policy import Outcome, PolicyError, build_policy
from imagebot.policy.gates import Gates, Platform, parse_platforms

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("served", "wanted", "ok"), [
    ("linux/arm64/v8", "linux/arm64", True),  # no variant asked: any variant serves
    ("linux/arm64", "linux/arm64/v8", False),
    ("linux/arm/v7", "linux/arm/v7", True),
    ("linux/arm/v6", "linux/arm/v7", False),
    ("windows/amd64", "linux/amd64", False),
])
def test_platform_matching(served: str, wanted: str, ok: bool) -> None:
    assert Platform.parse(served).serves(Platform.parse(wanted)) is ok


@pytest.mark.parametrize("text", ["linux", "linux-amd64", "Linux/amd64", "linux/amd64/v8/x", "", "/amd64"])
def test_malformed_platforms_are_refused(text: str) -> None:
    with pytest.raises(PolicyError, match="os/architecture"):
        parse_platforms([text])


def test_too_many_platforms_name_the_limit() -> None:
    with pytest.raises(PolicyError, match="the limit is 32"):
        parse_platforms(["linux/amd64"] * 33)


def test_judge_platforms_before_age() -> None:
    gates = Gates(timedelta(hours=72), parse_platforms(["linux/amd64"]))
    amd64 = [Platform.parse("linux/amd64")]
    never = gates.judge("1.6.0", T0, seen=T0 - timedelta(hours=1), served=[Platform.parse("linux/arm64")])
    assert (never.failed, never.ready_at) == (Outcome.MISSING_PLATFORM, None)  # it will never qualify: no wait
    young = gates.judge("1.5.0", T0, seen=T0 - timedelta(hours=1), served=amd64)
    assert (young.failed, young.ready_at) == (Outcome.TOO_NEW, T0 + timedelta(hours=71))
    assert young.detail == "waits until 2026-03-04T11:00:00Z (minimumAge 72h)"
    old = gates.judge("1.4.0", T0, seen=T0 - timedelta(hours=72), served=[Platform.parse("linux/arm64")])
    assert old.failed == Outcome.MISSING_PLATFORM and old.detail == "lacks linux/amd64 (serves linux/arm64)"
    assert gates.judge("1.4.0", T0, seen=T0 - timedelta(days=9), served=[Platform.parse("linux/amd64")]).failed is None


def test_without_gates_policies_describe_and_select_as_before() -> None:
    policy = build_policy(semver=">=1")
    assert not policy.gates and policy.describe() == "semver >=1"
    assert policy.ranked(["1.0.0", "2.0.0", "x"]) == ["2.0.0", "1.0.0"]


def test_newest_build_needs_times_and_refuses_other_rules() -> None:
    policy = build_policy(newest_build=True, filter_pattern="^main-")
    assert policy.latest(["main-a", "main-b"]) is None  # no times known: nothing qualifies
    timed = policy.with_created({"main-a": T0, "main-b": T0 - timedelta(seconds=1), "other": T0 + timedelta(1)})
    assert timed.latest(["main-a", "main-b", "other"]) == "main-a"
    with pytest.raises(PolicyError, match="exactly one"):
        build_policy(semver="1", newest_build=True)
    with pytest.raises(PolicyError, match="newestBuild policy only"):
        build_policy(semver="1").with_created({})


@given(st.dictionaries(st.text("abc-", min_size=1, max_size=4),
                       st.integers(0, 5).map(lambda n: T0 + timedelta(seconds=n)), max_size=12),
       st.randoms())
def test_newest_build_is_independent_of_tag_order(created: dict[str, datetime], rnd) -> None:
    tags = list(created)
    policy = build_policy(newest_build=True).with_created(created)
    expected = max(tags, key=lambda t: (created[t], t), default=None)
    rnd.shuffle(tags)
    assert policy.latest(tags) == expected
    assert policy.ranked(tags)[:1] == ([expected] if expected else [])
