"""Masterminds semver v3 constraints (what Flux's ``policy.semver.range`` is), compiled once.

Grammar: OR groups split by ``||``; inside a group, comparators separated by spaces or one comma
are ANDed. A comparator is an operator (``=`` ``!=`` ``>`` ``<`` ``>=`` ``=>`` ``<=`` ``=<`` ``~``
``~>`` ``^`` or none) and a version of one to three parts, each a number or a wildcard ``x`` ``X``
``*``, with optional ``v``, ``-prerelease`` and ``+build``. ``A - B`` (spaces required) means
``>= A, <= B``. A prerelease version can satisfy a group only when one of the group's
comparators carries a prerelease (``>=1.0.0-0``), as in Masterminds 3.4.

The operator rules, including their corner cases (``^0.0.3`` is ``=0.0.3``, ``>11`` is ``>=12``,
``<=1.1`` admits ``1.1.9``), follow Masterminds' documented behaviour and its test tables.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from imagebot.policy.errors import PolicyError
from imagebot.policy.version import VersionKey, parse_loose

Check = Callable[[VersionKey], bool]

_WS = " \t\n\f\r"  # Go's \s
_SEGMENT = frozenset("0123456789xX*|")  # Masterminds' constraint segment class (the | is theirs)
_IDENT = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-")
# Tried in this order, the first that leaves a valid version wins (as the original regex does).
_OPERATORS = ("=", "", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^")

_CV = (
    r"v?([0-9|xX*]+)(\.[0-9|xX*]+)?(\.[0-9|xX*]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_HYPHEN_RANGE = rf"[{_WS}]*({_CV})[{_WS}]+-[{_WS}]+({_CV})[{_WS}]*"  # compiled on first use


def _skip_ws(s: str, i: int) -> int:
    while i < len(s) and s[i] in _WS:
        i += 1
    return i


def _scan_ident(s: str, i: int) -> int:
    """End of dot-separated identifiers starting at ``i`` (``i`` itself when there is none)."""
    start = i
    while i < len(s) and s[i] in _IDENT:
        i += 1
    if i == start:
        return start
    while i < len(s) and s[i] == ".":
        j = i + 1
        while j < len(s) and s[j] in _IDENT:
            j += 1
        if j == i + 1:
            break
        i = j
    return i


def _scan_version(s: str, i: int) -> tuple[int, list[str], str] | None:
    """Scan a constraint version at ``i``: (end, [major, .minor, .patch], -prerelease)."""
    if i < len(s) and s[i] == "v":
        i += 1
    segments: list[str] = []
    for n in range(3):
        if n:
            if i >= len(s) or s[i] != ".":
                break
            i += 1
        start = i
        while i < len(s) and s[i] in _SEGMENT:
            i += 1
        if i == start:
            return None
        segments.append(s[start - (1 if n else 0):i])
    pre = ""
    if i < len(s) and s[i] == "-":
        end = _scan_ident(s, i + 1)
        if end == i + 1:
            return None
        pre, i = s[i:end], end
    if i < len(s) and s[i] == "+":
        end = _scan_ident(s, i + 1)
        if end == i + 1:
            return None
        i = end
    return i, segments, pre


def _match_comparator(s: str, i: int) -> tuple[int, str, list[str], str] | None:
    """The comparator starting at ``i`` (after blanks): (end, operator, segments, prerelease)."""
    i = _skip_ws(s, i)
    for op in _OPERATORS:
        if not s.startswith(op, i):
            continue
        scanned = _scan_version(s, _skip_ws(s, i + len(op)))
        if scanned is not None:
            end, segments, pre = scanned
            return end, op, segments, pre
    return None


class Comparator:
    """One operator and version, e.g. ``>=1.2``, compiled to a check on version keys."""

    __slots__ = ("check", "prerelease", "text")

    def __init__(self, op: str, segments: list[str], pre: str, text: str) -> None:
        major = segments[0]
        minor = segments[1] if len(segments) > 1 else ""
        patch = segments[2] if len(segments) > 2 else ""
        dirty = minor_dirty = patch_dirty = False
        if _is_wildcard(major):
            version, dirty = "0.0.0" + pre, True
        elif not minor or _is_wildcard(minor[1:]):
            version, dirty, minor_dirty = f"{major}.0.0{pre}", True, True
        elif not patch or _is_wildcard(patch[1:]):
            version, dirty, patch_dirty = f"{major}{minor}.0{pre}", True, True
        else:
            version = text.lstrip(_WS)[len(op):].lstrip(_WS)
        con = parse_loose(version)
        if con is None:
            raise PolicyError(f"{text.strip()!r} does not name a version")
        self.text = text.strip()
        self.prerelease = con[3] == 0
        self.check = _compile(op, con, dirty, minor_dirty, patch_dirty)

    def __repr__(self) -> str:
        return f"Comparator({self.text!r})"


def _is_wildcard(segment: str) -> bool:
    return segment in ("x", "X", "*")


def _compile(op: str, con: VersionKey, dirty: bool, minor_dirty: bool, patch_dirty: bool) -> Check:
    c0, c1, c2 = con[0], con[1], con[2]

    def equal(v: VersionKey) -> bool:
        return v == con

    def tilde(v: VersionKey) -> bool:
        if v < con:
            return False
        if c0 == 0 and c1 == 0 and c2 == 0 and not minor_dirty and not patch_dirty:
            return True  # ~0.0.0 and * accept everything
        return v[0] == c0 and (minor_dirty or v[1] == c1)

    def caret(v: VersionKey) -> bool:
        if v < con:
            return False
        if c0 > 0 or minor_dirty:
            return v[0] == c0
        if v[0] > 0:
            return False
        if c1 > 0 or patch_dirty:
            return v[1] == c1
        if v[1] > 0:
            return False
        return v[2] == c2

    def not_equal(v: VersionKey) -> bool:
        if dirty:
            if v[0] != c0:
                return True
            if v[1] != c1 and not minor_dirty:
                return True
            if minor_dirty:
                return False
            if v[2] != c2 and not patch_dirty:
                return True
            if patch_dirty:
                return v[4] != con[4]  # differing prereleases are "not equal"
        return v != con

    def greater(v: VersionKey) -> bool:
        if dirty:
            if v[0] != c0:
                return v[0] > c0
            if minor_dirty:
                return False  # >11 needs 12 or more
            if patch_dirty:
                return v[1] > c1  # >11.1 needs 11.2 or more
        return v > con

    def less_equal(v: VersionKey) -> bool:
        if not dirty:
            return v <= con
        if v[0] > c0:
            return False
        return not (v[0] == c0 and v[1] > c1 and not minor_dirty)

    checks: dict[str, Check] = {
        "": tilde if dirty else equal,
        "=": tilde if dirty else equal,
        "!=": not_equal,
        ">": greater,
        "<": lambda v: v < con,
        ">=": lambda v: v >= con,
        "=>": lambda v: v >= con,
        "<=": less_equal,
        "=<": less_equal,
        "~": tilde,
        "~>": tilde,
        "^": caret,
    }
    return checks[op]


class Group:
    """Comparators ANDed together; it admits prereleases only when one of them names a prerelease."""

    __slots__ = ("checks", "comparators", "prerelease")

    def __init__(self, comparators: list[Comparator]) -> None:
        self.comparators = comparators
        self.checks = tuple(c.check for c in comparators)
        self.prerelease = any(c.prerelease for c in comparators)

    def failing(self, version: VersionKey) -> list[Comparator]:
        return [c for c in self.comparators if not c.check(version)]


class Constraint:
    """A compiled semver range. ``Constraint(">=1.0.0 <2").admits(parse_flux("1.5.0"))``."""

    __slots__ = ("groups", "prerelease", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        rewritten = re.sub(_HYPHEN_RANGE, lambda m: f">= {m[1]}, <= {m[11]} ", text) if "-" in text else text
        self.groups = tuple(Group(_split_group(g)) for g in rewritten.split("||"))
        self.prerelease = any(g.prerelease for g in self.groups)

    def admits(self, version: VersionKey) -> bool:
        release = version[3]
        for group in self.groups:
            if not release and not group.prerelease:
                continue
            for check in group.checks:
                if not check(version):
                    break
            else:
                return True
        return False

    def __repr__(self) -> str:
        return f"Constraint({self.text!r})"


def _split_group(group: str) -> list[Comparator]:
    comparators: list[Comparator] = []
    i, n = 0, len(group)
    while True:
        if comparators:
            j = _skip_ws(group, i)
            if j == n:
                break
            if group[j] == ",":
                j += 1
            elif j == i:
                return _improper(group)  # two comparators need a space or a comma between them
        else:
            j = 0
        found = _match_comparator(group, j)
        if found is None:
            return _improper(group)
        end, op, segments, pre = found
        comparators.append(Comparator(op, segments, pre, group[j:end]))
        i = end
        if i == n:
            break
    return comparators


def _improper(group: str) -> list[Comparator]:
    raise PolicyError(f"improper constraint {group.strip()!r}")


def compile_constraint(text: str) -> Constraint:
    """Compile a semver range or raise PolicyError saying what is wrong and what a range looks like."""
    try:
        return Constraint(text)
    except PolicyError as err:
        raise PolicyError(
            f"semver range {text!r} is not valid: {err}; expected Masterminds semver constraints such as "
            "'>=1.0.0', '^1.2', '~1.4', '1.x', '>=1.0.0 <2.0.0', '1.2 - 1.4.5' or '>=1.0.0-0' "
            "(with prereleases)"
        ) from None
