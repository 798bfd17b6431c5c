"""What Go's ``regexp`` refuses although RE2 (google-re2) accepts it, and each group's name.

Flux compiles patterns with Go's ``regexp``; imagebot matches with google-re2, the same RE2
semantics, but the two parsers disagree on a few patterns (recorded against Go in
fixtures/flux-policy/regexps.jsonl):
- ``\\C`` (any byte) is RE2's; Go refuses it;
- Go allows only ``A-Z a-z 0-9 _`` in a group name, RE2 any word character;
- Go refuses a pattern whose parse tree is deeper than 1000 levels, RE2 has no such limit.
This scan runs only on patterns RE2 has already accepted, so it needs no error handling of its
own: it walks the structure once to find the three cases above and the group names by index
(Go's ``SubexpNames``; several groups may share a name).
"""

from __future__ import annotations

import re

MAX_HEIGHT = 1000  # Go's regexp/syntax maxHeight
_GO_NAME = re.compile(r"[A-Za-z0-9_]+").fullmatch
_REPEAT = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_FLAGS = re.compile(r"\(\?[imsU-]*(?::|\))")

# An item of the tree being measured: (height, kind, height of its children). Go's parser flattens
# a concatenation inside a concatenation and an alternation inside an alternation, and merges
# single-character alternatives into one class, so those kinds are told apart.
LEAF, CHAR, CONCAT, ALT = range(4)
Item = tuple[int, int, int]
_ONE: Item = (1, LEAF, 0)
_CHAR: Item = (1, CHAR, 0)


class GoSyntaxError(ValueError):
    """A pattern RE2 accepts and Go refuses; the message says why."""


class _Level:
    """One parenthesised level being scanned: its alternatives, each a list of items."""

    __slots__ = ("branches", "capture", "literal_run")

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.branches: list[list[Item]] = [[]]
        self.literal_run = 0  # characters in the last item when it is a literal: Go merges them into one node

    def add(self, item: Item, literal: bool = False) -> None:
        items = self.branches[-1]
        if literal and self.literal_run:
            items[-1] = _ONE  # a longer literal string: still one node
            self.literal_run += 1
            return
        items.append(item)
        self.literal_run = 1 if literal else 0

    def repeat(self) -> None:
        items = self.branches[-1]
        if self.literal_run > 1:
            items.append((2, LEAF, 0))  # ab* repeats only the b, split off the literal
        elif items:
            items[-1] = (items[-1][0] + 1, LEAF, 0)
        self.literal_run = 0

    def close(self) -> Item:
        results = [_concat(items) for items in self.branches]
        if len(results) == 1:
            result = results[0]
        elif all(kind == CHAR for _, kind, _ in results):
            result = _CHAR  # Go turns a|b|[cd] into one character class
        else:
            inner = max(children if kind == ALT else height for height, kind, children in results)
            result = (1 + inner, ALT, inner)
        return (result[0] + 1, LEAF, 0) if self.capture else result


def _concat(items: list[Item]) -> Item:
    if not items:
        return _ONE
    if len(items) == 1:
        return items[0]
    inner = max(children if kind == CONCAT else height for height, kind, children in items)
    return 1 + inner, CONCAT, inner


def _class_end(pattern: str, i: int) -> int:
    """Index after the character class starting at ``pattern[i] == '['``."""
    i += 1
    if pattern.startswith("^", i):
        i += 1
    if pattern.startswith("]", i):
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        if pattern[i] == "\\":
            i = _escape_end(pattern, i)
        elif pattern.startswith("[:", i) and ":]" in pattern[i + 2:]:
            i = pattern.index(":]", i + 2) + 2
        else:
            i += 1
    return i + 1


def _escape_end(pattern: str, i: int) -> int:
    """Index after the escape starting at ``pattern[i] == '\\'``."""
    kind = pattern[i + 1:i + 2]
    if kind in ("p", "P", "x") and pattern.startswith("{", i + 2):
        return pattern.index("}", i + 2) + 1
    if kind in ("p", "P"):
        return i + 3
    if kind == "x":
        return i + 4
    return i + 2


def scan(pattern: str) -> list[str]:
    """Go's SubexpNames for a pattern RE2 accepted, or GoSyntaxError when Go refuses it."""
    names = [""]
    stack = [_Level(capture=False)]
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        level = stack[-1]
        if char == "\\":
            if pattern.startswith("\\Q", i):
                end = pattern.find("\\E", i + 2)
                end = n if end < 0 else end
                if end > i + 2:
                    level.add(_CHAR if end == i + 3 else _ONE, literal=True)
                i = end + 2
                continue
            if pattern.startswith("\\C", i):
                raise GoSyntaxError("\\C (any byte) is not supported by Go's regexp")
            end = _escape_end(pattern, i)
            kind = pattern[i + 1:i + 2]
            literal = not kind.isalnum() or kind in ("x", "0", "1", "2", "3", "4", "5", "6", "7")
            level.add(_CHAR if kind not in ("A", "z", "b", "B") else _ONE, literal=literal)
            i = end
        elif char == "[":
            level.add(_CHAR)
            i = _class_end(pattern, i)
        elif char == "(":
            flags = _FLAGS.match(pattern, i)
            if flags is not None and flags.group().endswith(")"):
                level.literal_run = 0  # (?i) changes flags: the next literal is a new node
                i = flags.end()
                continue
            if flags is not None:
                stack.append(_Level(capture=False))
                i = flags.end()
            elif pattern.startswith(("(?P<", "(?<"), i):
                start = pattern.index("<", i) + 1
                end = pattern.index(">", start)
                name = pattern[start:end]
                if _GO_NAME(name) is None:
                    raise GoSyntaxError(
                        f"group name {name!r} is not valid in Go's regexp: use only letters A-Z, a-z, digits and _"
                    )
                names.append(name)
                stack.append(_Level(capture=True))
                i = end + 1
            else:
                names.append("")
                stack.append(_Level(capture=True))
                i += 1
        elif char == ")":
            closed = stack.pop().close()
            stack[-1].add(closed)
            i += 1
        elif char == "|":
            level.branches.append([])
            level.literal_run = 0
            i += 1
        elif char in "*+?":
            if not (char == "?" and pattern[i - 1:i] in "*+?}" and i > 0 and not level.literal_run):
                level.repeat()
            i += 1
        elif char == "{" and (repeat := _REPEAT.match(pattern, i)) is not None:
            level.repeat()
            i = repeat.end()
        else:
            level.add(_CHAR if char not in "^$" else _ONE, literal=char not in ".^$")
            i += 1
    height = stack[0].close()[0]
    if height > MAX_HEIGHT:
        raise GoSyntaxError(f"it nests deeper than Go's regexp allows ({MAX_HEIGHT} levels)")
    return names
