"""Parse the edited text again and check that exactly the intended values changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import zip_longest

from imagebot.update.scan import EventKey, YAMLError, event_key, parse_events
from imagebot.update.splice import STR_TAG, plain_is_string


def verify(
    new_text: str, before: Sequence[EventKey], expected: Mapping[int, str], fast: bool
) -> str | None:
    """None when `new_text` parses to the events `before` except scalars `expected` (ordinal -> value).

    Otherwise a description of the first difference. `fast` must be the parser `before` came from.
    """
    try:
        events, _, used_fast = parse_events(new_text, fast)
        if used_fast != fast:
            return "the edited file is read differently by the YAML parser"
        after = [event_key(e) for e in events]
    except YAMLError as err:
        return f"the edited file does not parse (line {err.line}): {err}"
    if len(after) == len(before) and _same_but_expected(before, after, expected):
        return None
    return _first_difference(before, after, expected)


def _same_but_expected(before: Sequence[EventKey], after: Sequence[EventKey], expected: Mapping[int, str]) -> bool:
    """The quick check: the lists are equal between the edited scalars (compared a slice at a time,
    in C), and each edited scalar reads back as intended."""
    scalars = [i for i, key in enumerate(before) if key[0] == "scalar"]
    done = 0
    for ordinal in sorted(expected):
        if ordinal >= len(scalars):
            return False
        at = scalars[ordinal]
        if before[done:at] != after[done:at] or _edited_problem(before[at], after[at], expected[ordinal]):
            return False
        done = at + 1
    return before[done:] == after[done:]


def _edited_problem(old: EventKey, new: EventKey, want: str) -> str | None:
    if new[0] != "scalar":
        return "the edit changed the YAML structure (a scalar became something else)"
    _, anchor, tag, _implicit, value, style = new
    if value != want:
        return f"the new value reads back as {value!r}, not {want!r}"
    if (anchor, tag) != (old[1], old[2]):
        return "the edit changed an anchor or tag"
    if tag not in (None, STR_TAG, "!"):
        return f"the value has the explicit tag {tag}; only strings are replaced"
    if style is None and tag is None and not plain_is_string(value):
        return f"the new plain value {value!r} does not read back as a string"
    return None


def _first_difference(before: Sequence[EventKey], after: Sequence[EventKey], expected: Mapping[int, str]) -> str | None:
    ordinal = -1
    for old, new in zip_longest(before, after):
        if old is None or new is None:
            return "the edited file has a different number of YAML nodes"
        if old[0] != "scalar":
            if old != new:
                return f"the edit changed the YAML structure ({old[0]} became {new[0]})"
            continue
        ordinal += 1
        if new[0] != "scalar":
            return "the edit changed the YAML structure (a scalar became something else)"
        want = expected.get(ordinal)
        if want is None:
            if old != new:
                return f"the edit changed another value ({old[4]!r} became {new[4]!r})"
            continue
        problem = _edited_problem(old, new, want)
        if problem is not None:
            return problem
    return None
