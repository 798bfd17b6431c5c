"""The ImageRepository's exclusionList: tags matching any of its (unanchored, RE2) patterns are
dropped before any policy sees them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from imagebot.policy.regex import GoRegexpSet


class Exclusion:
    __slots__ = ("_set", "patterns")

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = list(patterns)
        self._set = GoRegexpSet(self.patterns, "exclusionList pattern")

    def pattern_for(self, tag: str) -> str | None:
        """The first pattern that excludes ``tag``, or None when the tag stays."""
        index = self._set.first_match(tag.encode("utf-8", "surrogateescape"))
        return None if index is None else self.patterns[index]

    def keep(self, tags: Iterable[str]) -> list[str]:
        tags = list(tags)  # a new list, as ever: the scan keeps it beside the listing it came from
        excluded = self._set.matching(tags)
        if not excluded:
            return tags
        return [tag for index, tag in enumerate(tags) if index not in excluded]

    def describe(self) -> str:
        return "excluding " + ", ".join(self.patterns)
