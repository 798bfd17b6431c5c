"""Go-compatible regular expressions (RE2 syntax) through google-re2, compiled once.

Flux compiles filterTags and exclusionList patterns with Go's ``regexp``, which is RE2: no
backreferences or lookaround, ``\\d`` is ASCII, ``$`` is the end of the text, leftmost-first
matching. google-re2 implements exactly that, so it is the only engine used. Calls go through its
low-level binding on UTF-8 bytes: the high-level wrapper costs about 3 microseconds a call, too
much for 100,000 tags. The few patterns RE2 accepts and Go refuses are refused too (gosyntax).
"""

from __future__ import annotations

from imagebot.policy.errors import PolicyError
from imagebot.policy.gosyntax import GoSyntaxError, scan

_SHOWN = 200  # characters of a pattern quoted in an error message


def _options():  # an re2.Options; re2 is imported only when a pattern is compiled
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would otherwise print parse errors on stderr
    return options


class GoRegexp:
    """A compiled pattern: ``search(tag)`` gives the byte spans of the match and its groups, or None."""

    __slots__ = ("group_names", "groups", "names", "pattern", "raw_match", "unanchored")

    def __init__(self, pattern: str, what: str) -> None:
        from re2 import _re2

        compiled = _re2.RE2(pattern.encode("utf-8", "surrogateescape"), _options())
        shown = "'" + (pattern if len(pattern) <= _SHOWN else pattern[:_SHOWN] + "...") + "'"  # as written, not repr'd
        if not compiled.ok():
            reason = compiled.error()
            reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
            raise PolicyError(
                f"{what} {shown} is not a valid regular expression: {reason[:_SHOWN]} "
                "(expected Go/RE2 syntax: no lookaround or backreferences; named groups as (?P<name>...))"
            )
        try:
            names = scan(pattern)
        except GoSyntaxError as err:
            raise PolicyError(
                f"{what} {shown} is not a valid regular expression for Go, as Flux reads it: {err}"
            ) from None
        self.pattern = pattern
        self.groups = compiled.NumberOfCapturingGroups()
        if len(names) != self.groups + 1:  # the scan misread the pattern: fall back to RE2's (unique) names
            names = [""] * (self.groups + 1)
            for name, index in compiled.NamedCapturingGroups():
                names[index] = name.decode() if isinstance(name, bytes) else name
        self.names = names  # Go's SubexpNames: names[i] is group i's name, "" for none; names may repeat
        self.group_names: dict[str, tuple[int, ...]] = {}
        for index, name in enumerate(names):
            if name:
                self.group_names[name] = (*self.group_names.get(name, ()), index)
        self.raw_match = compiled.Match  # (anchor, bytes, start, end) -> spans; (-1, -1) when no match
        self.unanchored = _re2.RE2.Anchor.UNANCHORED

    def search(self, text: bytes) -> list[tuple[int, int]] | None:
        spans = self.raw_match(self.unanchored, text, 0, len(text))
        return spans if spans[0][0] >= 0 else None


class GoRegexpSet:
    """Several patterns matched in one pass: ``first_match(tag)`` is the index of the first that matches."""

    __slots__ = ("_match", "patterns")

    def __init__(self, patterns: list[str], what: str) -> None:
        from re2 import _re2

        for pattern in patterns:
            GoRegexp(pattern, what)  # validates, with a message naming the pattern
        regexp_set = _re2.Set(_re2.RE2.Anchor.UNANCHORED, _options())
        for pattern in patterns:
            regexp_set.Add(pattern.encode("utf-8", "surrogateescape"))
        regexp_set.Compile()
        self.patterns = patterns
        self._match = regexp_set.Match

    def first_match(self, text: bytes) -> int | None:
        matched = self._match(text)
        return min(matched) if matched else None
