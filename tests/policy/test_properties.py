"""Properties of every policy: order does not matter, the winner satisfies the policy, nothing beats it."""

from hypothesis import given, settings
from hypothesis import strategies as st

from imagebot.policy import Outcome, build_policy
from imagebot.policy.constraint import compile_constraint
from imagebot.policy.numerical import parse_number
from imagebot.policy.version import parse_flux, parse_loose

numbers = st.integers(min_value=0, max_value=12).map(str)
versions = st.builds(
    lambda v, major, minor, patch, pre, build: f"{v}{major}.{minor}.{patch}{pre}{build}",
    st.sampled_from(["", "v"]), numbers, numbers, numbers,
    st.sampled_from(["", "-rc.1", "-rc.2", "-alpha", "-0", "-beta.10"]), st.sampled_from(["", "+b1", "+b2"]),
)
loose_versions = st.builds(lambda *parts: ".".join(parts), numbers, numbers).map(lambda s: s.replace("1.", "01."))
noise = st.sampled_from(["latest", "main", "1.0", "16", "0x10", "NaN", "-3", "2.5", "sha-abc", "1e3", "v1.2"])
tag_lists = st.lists(st.one_of(versions, loose_versions, noise, st.text("0123456789.-av", max_size=8)), max_size=25)

RANGES = ["*", ">=1.0.0", "^1.2", "~3.4", "1.x", "<2 || >=5.0.0-0", ">=0.0.0-0", "!=3.0.0", "2 - 4.5", ">1.1, <=9"]
policy_args = st.one_of(
    st.builds(lambda r, s: {"semver": r, "strict": s}, st.sampled_from(RANGES), st.booleans()),
    st.builds(lambda o: {"alphabetical": o}, st.sampled_from(["asc", "desc"])),
    st.builds(lambda o: {"numerical": o}, st.sampled_from(["asc", "desc"])),
)


def qualifies(kwargs, tag):
    if "semver" in kwargs:
        version = (parse_flux if kwargs["strict"] else parse_loose)(tag)
        return version is not None and compile_constraint(kwargs["semver"]).admits(version)
    if "numerical" in kwargs:
        return parse_number(tag) is not None
    return True


def better(kwargs, a, b):
    """True when tag a must rank above tag b."""
    if "semver" in kwargs:
        parse = parse_flux if kwargs["strict"] else parse_loose
        return (parse(a), a) > (parse(b), b)
    if "numerical" in kwargs:
        x, y = parse_number(a), parse_number(b)
        if x == y:
            return a < b
        return x > y if kwargs["numerical"] == "asc" else x < y
    return a > b if kwargs["alphabetical"] == "asc" else a < b


@settings(max_examples=300, deadline=None)
@given(policy_args, tag_lists, st.randoms(use_true_random=False))
def test_selection_is_order_independent_sound_and_maximal(kwargs, tags, rnd):
    policy = build_policy(**kwargs)
    selected = policy.latest(tags)
    shuffled = list(tags)
    rnd.shuffle(shuffled)
    assert policy.latest(shuffled) == selected
    assert policy.latest(shuffled + tags) == selected  # duplicates change nothing
    qualifying = [t for t in set(tags) if qualifies(kwargs, t)]
    if selected is None:
        assert qualifying == []
        return
    assert qualifies(kwargs, selected)
    assert not any(better(kwargs, t, selected) for t in qualifying if t != selected)
    verdicts = policy.explain(shuffled)
    assert verdicts[0].tag == selected and verdicts[0].outcome is Outcome.SELECTED
    assert [v.tag for v in verdicts if v.rank] == sorted(qualifying, key=lambda t: [better(kwargs, o, t)
                                                                                     for o in qualifying].count(True))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=40), max_size=20), st.randoms(use_true_random=False))
def test_filter_extract_maps_back_to_smallest_original(stamps, rnd):
    tags = [f"main-{'ab'[i % 2]}{i}-{stamp}" for i, stamp in enumerate(stamps)]
    policy = build_policy(numerical="asc", filter_pattern=r"^main-[a-z0-9]+-(?P<ts>\d+)$", filter_extract="$ts")
    rnd.shuffle(tags)
    selected = policy.latest(tags)
    if not stamps:
        assert selected is None
        return
    top = max(stamps)
    assert selected == min(t for t in tags if t.endswith(f"-{top}"))
