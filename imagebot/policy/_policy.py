"""A whole ImagePolicy: exclusionList, then filterTags, then one ordering rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from imagebot.policy.alphabetical import AlphabeticalRule
from imagebot.policy.errors import PolicyError
from imagebot.policy.exclusion import Exclusion
from imagebot.policy.explain import Outcome, Verdict
from imagebot.policy.filter import TagFilter, build_filter
from imagebot.policy.gates import Gates, parse_platforms
from imagebot.policy.newest import NewestBuildRule
from imagebot.policy.numerical import NumericalRule
from imagebot.policy.semver import SemverRule
from imagebot.policy.taglines import TagLines

# Every rule has latest(values) -> str | None, assess(values) -> Assessment and describe() -> str.
Rule = SemverRule | AlphabeticalRule | NumericalRule | NewestBuildRule


class Policy:
    """A compiled policy. Pure: no I/O, and the result never depends on the order of the tags."""

    __slots__ = ("exclusion", "gates", "rule", "tag_filter")

    def __init__(self, rule: Rule, tag_filter: TagFilter | None = None, exclusion: Exclusion | None = None,
                 gates: Gates | None = None):
        self.rule = rule
        self.tag_filter = tag_filter
        self.exclusion = exclusion
        self.gates = gates or Gates()  # minimumAge and platforms: applied by the caller, who holds the data

    @property
    def newest_build(self) -> bool:
        """Ranks by build time, which the caller supplies with `with_created`."""
        return isinstance(self.rule, NewestBuildRule)

    def with_created(self, created: Mapping[str, datetime]) -> Policy:
        """This newestBuild policy with the build times of (some of) the tags."""
        if not isinstance(self.rule, NewestBuildRule):
            raise PolicyError("build times apply to a newestBuild policy only")
        return Policy(self.rule.with_created(created), self.tag_filter, self.exclusion, self.gates)

    def candidates(self, tags: Iterable[str]) -> list[str]:
        """The tags the exclusionList and filterTags keep (one per extracted value), sorted."""
        return sorted(self._values(tags).values())

    def ranked(self, tags: Iterable[str]) -> list[str]:
        """Every qualifying tag, best first (before minimumAge and platforms)."""
        values = self._values(tags)
        return [values[value] for value in self.rule.assess(values).ranked]

    def _values(self, tags: Iterable[str]) -> dict[str, str]:
        candidates: Iterable[str] = set(tags)
        if self.exclusion is not None:
            candidates = self.exclusion.keep(candidates)
        if self.tag_filter is None:
            return {tag: tag for tag in candidates}
        return self.tag_filter.apply(candidates)

    def latest(self, tags: Iterable[str]) -> str | None:
        """The original tag the policy selects, or None when no tag qualifies."""
        candidates: Iterable[str]
        if isinstance(tags, TagLines) and self.exclusion is None and self.tag_filter is not None:
            candidates = tags  # the filter searches the text itself: only the tags it keeps become strings
        else:
            # No set(): a repeated tag changes no maximum, and 100,000 tags hash in milliseconds.
            candidates = tags if isinstance(tags, list) else tags.tags if isinstance(tags, TagLines) else list(tags)
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
        parts.extend(self.gates.describe())
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
    newest_build: bool = False,
    minimum_age: timedelta | None = None,
    platforms: Sequence[str] = (),
) -> Policy:
    """Compile an ImagePolicy (exactly one of semver/alphabetical/numerical/newestBuild) or raise PolicyError."""
    chosen = [name for name, value in (("semver", semver), ("alphabetical", alphabetical),
                                       ("numerical", numerical), ("newestBuild", newest_build or None))
              if value is not None]
    if len(chosen) != 1:
        got = " and ".join(chosen) if chosen else "none"
        raise PolicyError(f"a policy needs exactly one of semver, alphabetical, numerical or newestBuild; got {got}")
    if newest_build and filter_extract:
        # build times rank the tags: an extracted value would be computed and then ignored
        raise PolicyError("filterTags.extract has no effect under newestBuild (build times rank the tags); "
                          "remove it")
    if minimum_age is not None and minimum_age < timedelta(0):
        raise PolicyError("minimumAge must not be negative")
    if isinstance(platforms, str):
        raise PolicyError("platforms must be a list such as [linux/amd64, linux/arm64], not one string")
    gates = Gates(minimum_age if minimum_age else None, parse_platforms(platforms))
    rule: Rule
    if newest_build:
        rule = NewestBuildRule()
    elif semver is not None:
        rule = SemverRule(semver, strict=strict)
    elif alphabetical is not None:
        rule = AlphabeticalRule(alphabetical)
    else:
        rule = NumericalRule(numerical)
    if isinstance(exclusions, str):
        raise PolicyError("exclusions must be a list of patterns, not one string")
    exclusion = Exclusion(exclusions) if exclusions else None
    return Policy(rule, build_filter(filter_pattern, filter_extract), exclusion, gates)
