"""imagebot's policy engine against Flux's own answers, recorded from Flux's Go code.

fixtures/flux-policy/ holds cases answered by image-reflector-controller's ``internal/policy``
with its pinned ``fluxcd/pkg/version`` and Masterminds semver (how: its README). No Go runs here:
each test replays one file and lists every case where imagebot answers differently.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

import pytest

from imagebot.policy import PolicyError, build_policy
from imagebot.policy.constraint import compile_constraint
from imagebot.policy.filter import TagFilter, missing_groups
from imagebot.policy.numerical import parse_number
from imagebot.policy.regex import GoRegexp
from imagebot.policy.version import format_version, parse_flux, parse_loose

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DATA = FIXTURES / "flux-policy"
SUMMARY = json.loads((DATA / "summary.json").read_text())


def rows(name: str) -> Iterator:
    with (DATA / name).open(encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


def assert_agrees(name: str, disagreements: list) -> None:
    total = SUMMARY["files"][name]
    shown = "\n".join(repr(d) for d in disagreements[:25])
    assert not disagreements, f"{len(disagreements)} of {total} cases in {name} disagree with Flux:\n{shown}"


def formatted(version) -> str | None:
    return None if version is None else format_version(version)


def test_every_file_is_replayed_in_full():
    for name, count in SUMMARY["files"].items():
        assert sum(1 for _ in rows(name)) == count, name
    assert sum(SUMMARY["files"].values()) > 50_000


def test_real_tag_lists_are_the_ones_flux_answered():
    for image, digest in SUMMARY["corpus_sha256"].items():
        assert hashlib.sha256((FIXTURES / "tags" / f"{image}.txt").read_bytes()).hexdigest() == digest, image


def test_versions():
    """Flux's version.ParseVersion (the default), and Masterminds' NewVersion (``semver.strict: false``)."""
    disagreements = []
    for tag, flux, loose in rows("versions.jsonl"):
        ours = formatted(parse_flux(tag)), formatted(parse_loose(tag))
        if ours != (flux, loose):
            disagreements.append((tag, "flux", (flux, loose), "imagebot", ours))
    assert_agrees("versions.jsonl", disagreements)


def test_numbers():
    """Go's strconv.ParseFloat; imagebot skips NaN and infinities (and what Go cannot read), as documented."""
    disagreements = []
    for text, go in rows("numbers.jsonl"):
        expected = None
        if go not in ("syntax", "range", "NaN", "+Inf", "-Inf"):
            expected = float.fromhex(go)
        ours = parse_number(text)
        same = ours == expected and (ours is None or math.copysign(1, ours) == math.copysign(1, expected))
        if not same:
            disagreements.append((text, "go", go, "imagebot", ours))
    assert_agrees("numbers.jsonl", disagreements)


def test_ranges():
    disagreements = []
    for text, valid in rows("ranges.jsonl"):
        try:
            compile_constraint(text)
            ours = True
        except PolicyError:
            ours = False
        if ours != valid:
            disagreements.append((text, "flux valid", valid))
    assert_agrees("ranges.jsonl", disagreements)


def test_regexps():
    """Go's regexp.Compile decides what is a valid pattern, and which groups it has."""
    disagreements = []
    for pattern, valid, names in rows("regexps.jsonl"):
        try:
            compiled = GoRegexp(pattern, "pattern")
        except PolicyError:
            ours = (False, None)
        else:
            ours = (True, compiled.names)
        if ours != (valid, names):
            disagreements.append((pattern[:80], "go", (valid, names), "imagebot", ours))
    assert_agrees("regexps.jsonl", disagreements)


def test_nesting():
    """Go refuses a pattern nested deeper than 1000 levels as its parser counts them; RE2 has no such limit."""
    disagreements = []
    for lead, open_, middle, close, n, valid, groups in rows("nesting.jsonl"):
        pattern = lead + open_ * n + middle + close * n
        try:
            ours = (True, GoRegexp(pattern, "pattern").groups)
        except PolicyError:
            ours = (False, 0)
        if ours != (valid, groups if valid else 0):
            disagreements.append(((lead, open_, middle, close, n), "go valid", valid, "imagebot", ours))
    assert_agrees("nesting.jsonl", disagreements)


def test_expand():
    disagreements = []
    for case in rows("expand.jsonl"):
        go = case["flux"]
        try:
            value = TagFilter(case["pattern"], case["extract"]).value(case["input"])
            ours = {"match": False} if value is None else {"match": True, "value": value}
        except PolicyError:
            ours = {"invalid": True}
        if ours != go:
            disagreements.append((case, "imagebot", ours))
    assert_agrees("expand.jsonl", disagreements)


@cache
def _select_cases() -> tuple[dict, ...]:
    return tuple(rows("select.jsonl"))


@cache
def _corpus(image: str) -> tuple[str, ...]:
    return tuple((FIXTURES / "tags" / f"{image}.txt").read_text().split())


def _tags(case: dict) -> Sequence[str]:
    return _corpus(case["tags_from"]) if "tags_from" in case else case["tags"]


def _policy(case: dict):
    return build_policy(
        semver=case.get("semver"),
        strict=not case.get("loose", False),
        alphabetical=case.get("alphabetical"),
        numerical=case.get("numerical"),
        filter_pattern=case.get("pattern"),
        filter_extract=case.get("extract") if "pattern" in case else None,
    )


def _expected(case: dict) -> str | list[str] | None:
    """What imagebot must answer: "invalid", None (nothing selected) or the tags Flux could select."""
    flux = case["flux"]
    if "invalid" in flux:
        return "invalid"
    if case.get("pattern") == "" and case.get("extract"):
        return "invalid"  # documented: imagebot refuses an extract without a pattern; Flux maps every tag to it
    if case.get("extract") and _names_missing_group(case["pattern"], case["extract"]):
        return "invalid"  # documented: imagebot refuses an extract naming a group the pattern lacks
    if "numerical" in case:  # documented: imagebot skips what is not a finite number instead of failing
        return flux.get("numbers_only_answers")
    return flux.get("answers")


def _names_missing_group(pattern: str, extract: str) -> bool:
    regexp = GoRegexp(pattern, "pattern")
    return bool(missing_groups(extract, regexp.groups, regexp.group_names))


def test_select():
    """Whole policies: Flux's tags come sorted descending, as its database stores them; where
    filterTags leaves a tie that Go's map order decides, any of Flux's possible answers agrees."""
    disagreements = []
    documented = 0
    for case in _select_cases():
        expected = _expected(case)
        documented += expected == "invalid" and "invalid" not in case["flux"]
        try:
            ours = _policy(case).latest(_tags(case))
        except PolicyError:
            ours = "invalid"
        agrees = ours == expected if expected in (None, "invalid") else ours in expected
        if not agrees:
            shown = {k: v for k, v in case.items() if k != "tags" or len(v) <= 12}
            disagreements.append((shown, "imagebot", ours))
    assert_agrees("select.jsonl", disagreements)
    assert documented < SUMMARY["files"]["select.jsonl"] // 10  # documented refusals stay a small share


@pytest.mark.parametrize("image", sorted(SUMMARY["corpus_sha256"]))
def test_real_tags_are_covered(image):
    cases = [c for c in _select_cases() if c.get("tags_from") == image]
    assert {"semver", "alphabetical", "numerical"} <= {k for c in cases for k in c}
