"""What happened to each tag: the vocabulary of ``Policy.explain`` and ``imagebot policy eval --explain``."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    EXCLUDED = "excluded"  # matched an exclusionList pattern of the ImageRepository
    FILTERED_OUT = "filtered_out"  # did not match filterTags.pattern
    SAME_VALUE = "same_value"  # extracted the same value as a lexicographically smaller tag
    NOT_A_VERSION = "not_a_version"
    PRERELEASE = "prerelease"  # a prerelease, and the range asks for none
    OUT_OF_RANGE = "out_of_range"
    NOT_A_NUMBER = "not_a_number"
    NO_BUILD_TIME = "no_build_time"  # newestBuild: no creation time is known for the image
    TOO_NEW = "too_new"  # minimumAge: not in the registry long enough yet
    MISSING_PLATFORM = "missing_platform"  # platforms: the image does not serve every listed platform
    RANKED = "ranked"  # qualifies, but a better tag exists
    SELECTED = "selected"


class Verdict:
    """One tag's fate. ``rank`` is 1 for the selected tag, 2.. for the runners-up, None otherwise."""

    __slots__ = ("detail", "outcome", "rank", "tag")

    def __init__(self, tag: str, outcome: Outcome, detail: str = "", rank: int | None = None) -> None:
        self.tag = tag
        self.outcome = outcome
        self.detail = detail
        self.rank = rank

    def as_dict(self) -> dict[str, object]:
        return {"tag": self.tag, "outcome": self.outcome.value, "detail": self.detail, "rank": self.rank}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return (self.tag, self.outcome, self.detail, self.rank) == (
            other.tag, other.outcome, other.detail, other.rank,
        )

    def __hash__(self) -> int:
        return hash((self.tag, self.outcome, self.detail, self.rank))

    def __repr__(self) -> str:
        return f"Verdict({self.tag!r}, {self.outcome.value}, {self.detail!r}, rank={self.rank})"


class Assessment:
    """A rule's judgement of a set of values: the qualifying ones best first, and why the rest failed."""

    __slots__ = ("ranked", "rejected")

    def __init__(self, ranked: list[str], rejected: dict[str, tuple[Outcome, str]]) -> None:
        self.ranked = ranked
        self.rejected = rejected
