"""The numerical rule (``policy.numerical``): tags read as 64-bit floats; asc picks the greatest,
desc the least, and equal numbers (``1``, ``1.0``, ``01``) go to the lexicographically smallest tag.

A number is what Go's ``strconv.ParseFloat`` reads, as in Flux: decimals (``1e3``, ``.5``, ``5.``),
underscores between digits (``20240115_1200``) and hex floats with an exponent (``0x1p4``).
Unlike Flux, a tag that is not a finite number (``latest``, ``0x10``, ``NaN``, ``Inf``, ``1e999``)
is skipped instead of failing the whole policy (fluxcd/image-reflector-controller #143, #340, #418).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from itertools import compress

from imagebot.policy.explain import Assessment, Outcome
from imagebot.policy.order import ASC, parse_order

# Go's readFloat syntax; underscores are checked apart (_underscores_ok), as Go does. Go also reads
# Inf, Infinity and NaN, which imagebot skips anyway, so they are left out here.
_DECIMAL_SYNTAX = r"[+-]?(?:[0-9_]+(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][+-]?[0-9][0-9_]*)?"
_HEX_SYNTAX = r"[+-]?0[xX](?:[0-9a-fA-F_]+(?:\.[0-9a-fA-F_]*)?|\.[0-9a-fA-F_]+)[pP][+-]?[0-9][0-9_]*"
_SPECIAL_SYNTAX = r"(?i)[+-]?(?:inf|infinity)|nan"  # what Go reads as ±Inf or NaN
# Their fullmatch, compiled on first use (_compile): every command imports this module at start-up,
# and a list of plain decimals never needs them.
_DECIMAL = _HEX = _SPECIAL = None
# Passes of C over all tags joined by newlines instead of a call per tag. Plain decimals (no
# underscore, no hex) are what Python's float() reads exactly as Go's ParseFloat does.
_PLAIN_CHARS = dict.fromkeys(map(ord, "0123456789.eE+-\n"))  # str.translate deletes them
_PLAIN_LINE = r"\n([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(?=\n)"
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _underscores_ok(text: str) -> bool:
    """Go's strconv.underscoreOK: each underscore sits between digits (or after a base prefix)."""
    if text[:1] in "+-":
        text = text[1:]
    digits = frozenset("0123456789")
    saw = "^"  # ^ start, 0 digit or prefix, _ underscore, ! anything else
    i = 0
    if len(text) >= 2 and text[0] == "0" and text[1] in "xXbBoO":
        i, saw = 2, "0"
        if text[1] in "xX":
            digits = _HEX_DIGITS
    for char in text[i:]:
        if char in digits:
            saw = "0"
        elif char == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def parse_number(tag: str) -> float | None:
    """The finite number Go's strconv.ParseFloat reads in a tag, or None."""
    try:
        value = _read_float(tag)
    except OverflowError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _compile() -> None:
    global _DECIMAL, _HEX, _SPECIAL
    _DECIMAL = re.compile(_DECIMAL_SYNTAX).fullmatch
    _HEX = re.compile(_HEX_SYNTAX).fullmatch
    _SPECIAL = re.compile(_SPECIAL_SYNTAX).fullmatch


def _read_float(tag: str) -> float | None:
    if _DECIMAL is None:
        _compile()
    if _DECIMAL(tag) is not None:
        hexadecimal = False
    elif _HEX(tag) is not None:
        hexadecimal = True
    else:
        return None
    if "_" in tag:
        if not _underscores_ok(tag):
            return None
        tag = tag.replace("_", "")
    return float.fromhex(tag) if hexadecimal else float(tag)


def _why_not_a_number(tag: str) -> str:
    if _SPECIAL is None:
        _compile()
    if _SPECIAL(tag) is not None:
        return "NaN and infinities are skipped"
    try:
        value = _read_float(tag)
    except OverflowError:
        value = math.inf
    if value is not None:  # read, yet not finite
        return "out of a float64's range"
    if _DECIMAL(tag) is not None or _HEX(tag) is not None:
        return "underscores may only stand between digits"
    if (tag[:1] in "+-" and tag[1:3] in ("0x", "0X")) or tag[:2] in ("0x", "0X"):
        return "a hexadecimal number needs a p exponent (0x1p4)"
    return "not a number (as Go's strconv.ParseFloat reads numbers)"


def _read_all(tags: list[str], text: str) -> tuple[list[str], list[float], list[tuple[float, str]]]:
    """The plain decimals among `tags` (newline-joined in `text`) with their values, and the other
    tags that are numbers (underscores, hex) with theirs."""
    if not text.translate(_PLAIN_CHARS):  # digits, dots, signs and exponents only: mostly all numbers
        try:
            return tags, list(map(float, tags)), []
        except ValueError:  # some are not (1.2.3): read line by line below
            pass
    plain = re.findall(_PLAIN_LINE, "\n" + text + "\n")
    others = []
    if "_" in text or "0x" in text or "0X" in text:
        for tag in tags:
            if ("_" in tag or "0x" in tag or "0X" in tag) and (value := parse_number(tag)) is not None:
                others.append((value, tag))
    return plain, list(map(float, plain)), others


class NumericalRule:
    __slots__ = ("order",)

    def __init__(self, order: str | None = None) -> None:
        self.order = parse_order("numerical", order)

    def latest(self, values: Iterable[str]) -> str | None:
        tags = values if isinstance(values, list) else list(values)
        text = "\n".join(tags)
        if text.count("\n") != len(tags) - 1:  # a tag holds a newline: lines are not tags
            return self._latest_one_by_one(tags)
        plain, numbers, others = _read_all(tags, text)
        pick = max if self.order == ASC else min
        best = pick(numbers, default=None)
        if best is not None and best - best != 0.0:  # an overflow to infinity: leave those out
            kept = [(value, tag) for value, tag in zip(numbers, plain, strict=True) if value - value == 0.0]
            plain, numbers = [tag for _, tag in kept], [value for value, _ in kept]
            best = pick(numbers, default=None)
        if others:
            best = pick([value for value, _ in others] + ([] if best is None else [best]))
        if best is None:
            return None
        # equal numbers (1, 1.0, 01) go to the smallest tag
        tied = list(compress(plain, map(best.__eq__, numbers)))
        tied.extend(tag for value, tag in others if value == best)
        return min(tied)

    def _latest_one_by_one(self, values: Iterable[str]) -> str | None:
        best: float | None = None
        best_tag = ""
        asc = self.order == ASC
        for tag in values:
            value = parse_number(tag)
            if value is None:
                continue
            if best is not None:
                if value != best:
                    if (value < best) if asc else (value > best):
                        continue
                elif tag >= best_tag:
                    continue
            best, best_tag = value, tag
        return best_tag if best is not None else None

    def assess(self, values: Iterable[str]) -> Assessment:
        numbers = []
        rejected: dict[str, tuple[Outcome, str]] = {}
        for tag in values:
            value = parse_number(tag)
            if value is None:
                rejected[tag] = (Outcome.NOT_A_NUMBER, _why_not_a_number(tag))
            else:
                numbers.append((-value if self.order == ASC else value, tag))
        numbers.sort()
        return Assessment([tag for _, tag in numbers], rejected)

    def describe(self) -> str:
        return f"numerical {self.order}"
