"""A whole ImagePolicy: exclusionList, then filterTags, then one ordering rule."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from imagebot.policy.alphabetical import AlphabeticalRule
from imagebot.policy.errors import PolicyError
from imagebot.policy.exclusion import Exclusion
from imagebot.policy.explain import Outcome, Verdict
from imagebot.policy.filter import TagFilter, build_filter
from imagebot.policy.numerical import NumericalRule
from imagebot.policy.semver import SemverRule

# Every rule has latest(values) -> str | None, assess(values) -> Assessment and describe() -> str.
Rule = SemverRule | AlphabeticalRule | NumericalRule


class Policy:
    """A compiled policy. Pure: no I/O, and the result never depends on the order of the tags."""

    __slots__ = ("exclusion", "rule", "tag_filter")

    def __init__(self, rule: Rule, tag_filter: TagFilter | None = None, exclusion: Exclusion | None = None):
        self.rule = rule
        self.tag_filter = tag_filter
        self.exclusion = exclusion

    def latest(self, tags: Iterable[str]) -> str | None:
        """The original tag the policy selects, or None when no tag qualifies."""
        candidates: Iterable[str] = set(tags)
        if self.exclusion is not None:
            candidates = self.exclusion.keep(candidates)
        if self.tag_filter is None:
            return self.rule.latest(candidates)
        values = self.tag_filter.apply(candidates)
        value = self.rule.latest(values)
        return None if value is None else values[value]

    def explain(self, tags: Iterable[str]) -> list[Verdict]:
        """Every distinct tag with what happened to it: ranked tags first (rank 1 is selected), then the
        rest by tag."""
        verdicts: list[Verdict] = []
        originals: dict[str, str] = {}  # value -> the tag it stands for
        for tag in sorted(set(tags)):
            if self.exclusion is not None:
                pattern = self.exclusion.pattern_for(tag)
                if pattern is not None:
                    verdicts.append(Verdict(tag, Outcome.EXCLUDED, f"matches exclusionList pattern '{pattern}'"))
                    continue
            value = tag if self.tag_filter is None else self.tag_filter.value(tag)
            if value is None:
                pattern = self.tag_filter.regexp.pattern
                verdicts.append(Verdict(tag, Outcome.FILTERED_OUT, f"does not match filter pattern '{pattern}'"))
            elif value in originals:  # tags come sorted, so the first one holding a value is the smallest
                detail = f"extracts {value!r} like {originals[value]!r}, which stands for it"
                verdicts.append(Verdict(tag, Outcome.SAME_VALUE, detail))
            else:
                originals[value] = tag
        assessment = self.rule.assess(originals)
        extracted = self.tag_filter is not None and self.tag_filter.extract is not None

        def note(value: str, detail: str) -> str:
            if not extracted:
                return detail
            return f"extracted {value!r}" + (f": {detail}" if detail else "")

        ranked = [
            Verdict(originals[value], Outcome.SELECTED if rank == 1 else Outcome.RANKED, note(value, ""), rank)
            for rank, value in enumerate(assessment.ranked, start=1)
        ]
        for value, (outcome, detail) in assessment.rejected.items():
            verdicts.append(Verdict(originals[value], outcome, note(value, detail)))
        verdicts.sort(key=lambda v: v.tag)
        return ranked + verdicts

    def describe(self) -> str:
        """One line, e.g. ``semver >=1.0.0 (loose), filter ^main-(?P<ts>\\d+) -> $ts``."""
        parts = [self.rule.describe()]
        if self.tag_filter is not None:
            parts.append(self.tag_filter.describe())
        if self.exclusion is not None:
            parts.append(self.exclusion.describe())
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"Policy({self.describe()!r})"


def build_policy(
    semver: str | None = None,
    strict: bool = True,
    alphabetical: str | None = None,
    numerical: str | None = None,
    filter_pattern: str | None = None,
    filter_extract: str | None = None,
    exclusions: Sequence[str] = (),
) -> Policy:
    """Compile an ImagePolicy (exactly one of semver/alphabetical/numerical) or raise PolicyError."""
    chosen = [name for name, value in (("semver", semver), ("alphabetical", alphabetical),
                                       ("numerical", numerical)) if value is not None]
    if len(chosen) != 1:
        got = " and ".join(chosen) if chosen else "none"
        raise PolicyError(f"a policy needs exactly one of semver, alphabetical or numerical; got {got}")
    rule: Rule
    if semver is not None:
        rule = SemverRule(semver, strict=strict)
    elif alphabetical is not None:
        rule = AlphabeticalRule(alphabetical)
    else:
        rule = NumericalRule(numerical)
    if isinstance(exclusions, str):
        raise PolicyError("exclusions must be a list of patterns, not one string")
    exclusion = Exclusion(exclusions) if exclusions else None
    return Policy(rule, build_filter(filter_pattern, filter_extract), exclusion)
