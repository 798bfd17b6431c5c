"""Go-compatible regular expressions (RE2 syntax) through google-re2, compiled once.

Flux compiles filterTags and exclusionList patterns with Go's ``regexp``, which is RE2: no
backreferences or lookaround, ``\\d`` is ASCII, ``$`` is the end of the text, leftmost-first
matching. google-re2 implements exactly that, so it is the only engine used. Calls go through its
low-level binding on UTF-8 bytes: the high-level wrapper costs about 3 microseconds a call, too
much for 100,000 tags. The few patterns RE2 accepts and Go refuses are refused too (gosyntax).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from imagebot.policy.errors import PolicyError
from imagebot.policy.gosyntax import GoSyntaxError, scan

_SHOWN = 200  # characters of a pattern quoted in an error message

# A match of one tag, as search_each yields it: the tag's index, the text the spans index (UTF-8
# bytes, or a str where all is ASCII and characters are bytes), the spans.
Found = tuple[int, bytes | str, list[tuple[int, int]]]
# A matching line of newline-joined tags, as search_lines yields it: where the line starts and ends
# in the joined bytes, the text the spans index, the spans.
Line = tuple[int, int, bytes | str, list[tuple[int, int]]]

BATCH_MIN = 64  # fewer tags are matched one call each
_MIN_WINDOW, _WINDOW = 1 << 6, 1 << 16  # bytes of the joined tags a call searches, at least and at most
# What may tell one tag's match from the same text inside the joined tags: \A and \z (the ends of the
# whole text), \Q (which could swallow the wrapping parenthesis) and a flag group clearing a flag (m).
_WHOLE_TEXT = r"\\[AzQ]|\(\?[A-Za-z]*-"  # compiled on first use (re's cache)


def _options():  # an re2.Options; re2 is imported only when a pattern is compiled
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would otherwise print parse errors on stderr
    return options


class GoRegexp:
    """A compiled pattern: ``search(tag)`` gives the byte spans of the match and its groups, or None."""

    __slots__ = ("_lines", "group_names", "groups", "names", "pattern", "raw_match", "unanchored")

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
        self._lines = _line_pattern(pattern, self.groups)

    def search(self, text: bytes) -> list[tuple[int, int]] | None:
        spans = self.raw_match(self.unanchored, text, 0, len(text))
        return spans if spans[0][0] >= 0 else None

    def search_each(self, tags: Sequence[str]) -> Iterator[Found]:
        """Each tag the pattern matches, in order: (index, haystack, spans), the spans indexing haystack.

        The same as ``search`` on each tag. A call into RE2 costs about a microsecond whatever it
        does, so with many tags the pattern runs over all of them joined by newlines, one call per
        matching tag instead of one per tag; see ``search_lines`` for why that gives each tag's
        own match.
        """
        if self._lines is None or len(tags) < BATCH_MIN:
            return self._search_one_by_one(tags, 0, len(tags))
        return self._search_joined(tags)

    def _search_one_by_one(self, tags: Sequence[str], first: int, stop: int) -> Iterator[Found]:
        match, anchor = self.raw_match, self.unanchored
        for index in range(first, stop):
            encoded = tags[index].encode("utf-8", "surrogateescape")
            spans = match(anchor, encoded, 0, len(encoded))
            if spans[0][0] >= 0:
                yield index, encoded, spans

    def _search_joined(self, tags: Sequence[str]) -> Iterator[Found]:
        """``search_lines`` over the tags joined by newlines, each line given back as its tag's index."""
        text = "\n".join(tags)
        if text.count("\n") != len(tags) - 1:  # a tag holds a newline: lines are not tags
            yield from self._search_one_by_one(tags, 0, len(tags))
            return
        joined = text.encode("utf-8", "surrogateescape")
        count = joined.count
        index, at = 0, 0  # tag `index` begins at `at`
        for start, _, haystack, spans in self.search_lines(joined, text if len(joined) == len(text) else joined):
            index += count(b"\n", at, start)
            at = start
            yield index, haystack, spans

    def search_lines(self, joined: bytes, haystack: bytes | str) -> Iterator[Line]:
        """Each line of ``joined`` (UTF-8, lines split at ``\\n`` only) that the pattern matches, as
        ``search`` on that line alone matches it: (start, end, haystack, spans), the line being
        ``joined[start:end]``. The spans index ``haystack``: the joined text itself (given as a str
        when it is ASCII, where characters are bytes: slices need no decoding), or the line's own
        bytes where the line was searched alone.

        The pattern runs over the joined lines in multi-line mode, ``(?m:P)``, one call per matching
        line instead of one per line (a call into RE2 costs about a microsecond whatever it does).
        Where line k stands in the joined text, ``^``, ``$``, ``\\b`` and ``\\B`` read the same as in
        line k alone (a newline is a line end and not a word character, like the text's ends), and
        ``_line_pattern`` refuses patterns with anything else that looks at the ends. So each match
        of line k alone is a match in the joined text at the same place, and:
        - the leftmost match from the start of line i lies in the first line (k >= i) that matches
          alone: an own match of an earlier line would be further left;
        - if that match holds no newline it is line k's own, groups included: RE2 picks among the
          matches starting there the first by the pattern's priorities, and line k's own matches are
          all among them. A match that runs over a newline is not line k's: line k is then searched
          alone, and so is every line after it (the pattern can match newlines, so joining gains little).
        """
        if self._lines is None:
            yield from self._lines_one_by_one(joined, 0)
            return
        size = len(joined)
        match, anchor, find, rfind = self._lines, self.unanchored, joined.find, joined.rfind
        pos = 0  # where a line begins: no line between it and the next match matches
        # A call searches up to a line's end some `window` bytes on. After a match RE2 may read on while a
        # better match could still come (a pattern that spans newlines), at worst to the window's end:
        # so the window follows the distance between matches (short where matches are dense) and
        # doubles while none is found, which keeps the work linear.
        window = _MIN_WINDOW
        while pos <= size:
            end = find(b"\n", pos + window)
            if end < 0:
                end = size
            spans = match(anchor, joined, pos, end)
            begin, stop = spans[0]
            if begin < 0:  # none of these lines matches
                pos = end + 1
                window = 2 * window if 2 * window < _WINDOW else _WINDOW
                continue
            line_end = find(b"\n", begin, end)
            if line_end < 0:
                line_end = end
            start = rfind(b"\n", pos, begin) + 1  # the line the match begins in
            if start == 0:
                start = pos
            if stop > line_end:  # ran over the newline after the line: not its own match
                yield from self._lines_one_by_one(joined, start)
                return
            yield start, line_end, haystack, spans
            # (conditions, not min() and max(): these run once a match, 100,000 times over a long list)
            window = 2 * (line_end + 1 - pos)
            window = _MIN_WINDOW if window < _MIN_WINDOW else _WINDOW if window > _WINDOW else window
            pos = line_end + 1

    def _lines_one_by_one(self, joined: bytes, start: int) -> Iterator[Line]:
        match, anchor, find = self.raw_match, self.unanchored, joined.find
        size = len(joined)
        while start <= size:
            end = find(b"\n", start)
            if end < 0:
                end = size
            line = joined[start:end]
            spans = match(anchor, line, 0, len(line))
            if spans[0][0] >= 0:
                yield start, end, line, spans
            start = end + 1


class GoRegexpSet:
    """Several patterns matched in one pass: ``first_match(tag)`` is the index of the first that matches."""

    __slots__ = ("_match", "_regexps", "patterns")

    def __init__(self, patterns: list[str], what: str) -> None:
        from re2 import _re2

        self._regexps = [GoRegexp(pattern, what) for pattern in patterns]  # validates, naming the pattern
        regexp_set = _re2.Set(_re2.RE2.Anchor.UNANCHORED, _options())
        for pattern in patterns:
            regexp_set.Add(pattern.encode("utf-8", "surrogateescape"))
        regexp_set.Compile()
        self.patterns = patterns
        self._match = regexp_set.Match

    def first_match(self, text: bytes) -> int | None:
        matched = self._match(text)
        return min(matched) if matched else None

    def matching(self, tags: Sequence[str]) -> set[int]:
        """The indexes of the tags some pattern matches."""
        if len(tags) < BATCH_MIN:
            first_match = self._match
            return {i for i, tag in enumerate(tags) if first_match(tag.encode("utf-8", "surrogateescape"))}
        found: set[int] = set()
        for regexp in self._regexps:  # each pattern over all tags joined: a call per match, not per tag
            found.update(index for index, _, _ in regexp.search_each(tags))
        return found


def _line_pattern(pattern: str, groups: int):  # -> the bound Match of (?m:pattern), or None
    """The pattern in multi-line mode for searching newline-joined tags, when that reads each tag as
    the pattern reads it alone (see GoRegexp._search_joined); else None."""
    from re2 import _re2

    if re.search(_WHOLE_TEXT, pattern) is not None:
        return None
    compiled = _re2.RE2(("(?m:" + pattern + ")").encode("utf-8", "surrogateescape"), _options())
    if not compiled.ok() or compiled.NumberOfCapturingGroups() != groups:
        return None
    return compiled.Match
