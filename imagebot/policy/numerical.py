"""The numerical rule (``policy.numerical``): tags read as 64-bit floats; asc picks the greatest,
desc the least, and equal numbers (``1``, ``1.0``, ``01``) go to the lexicographically smallest tag.

Unlike Flux, a tag that is not a decimal number (``latest``, ``0x10``, ``NaN``, ``Inf``, ``1e999``)
is skipped instead of failing the whole policy (fluxcd/image-reflector-controller #143, #340, #418).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from imagebot.policy.explain import Assessment, Outcome
from imagebot.policy.order import ASC, parse_order

# Go's strconv.ParseFloat decimal syntax; its hex floats, Inf and NaN are deliberately left out.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?").fullmatch


def parse_number(tag: str) -> float | None:
    """The finite number a tag spells, or None."""
    if _DECIMAL(tag) is None:
        return None
    value = float(tag)
    return value if math.isfinite(value) else None


class NumericalRule:
    __slots__ = ("order",)

    def __init__(self, order: str | None = None) -> None:
        self.order = parse_order("numerical", order)

    def latest(self, values: Iterable[str]) -> str | None:
        best: float | None = None
        best_tag = ""
        asc = self.order == ASC
        match = _DECIMAL
        for tag in values:
            if match(tag) is None:
                continue
            value = float(tag)
            if best is not None and value != best:
                if (value < best) if asc else (value > best):
                    continue
            elif best is not None and tag >= best_tag:
                continue
            if value - value != 0.0:  # inf overflows are not numbers
                continue
            best, best_tag = value, tag
        return best_tag if best is not None else None

    def assess(self, values: Iterable[str]) -> Assessment:
        numbers = []
        rejected: dict[str, tuple[Outcome, str]] = {}
        for tag in values:
            value = parse_number(tag)
            if value is None:
                why = "not a finite decimal number" if _DECIMAL(tag) is None else "out of a float64's range"
                rejected[tag] = (Outcome.NOT_A_NUMBER, why)
            else:
                numbers.append((-value if self.order == ASC else value, tag))
        numbers.sort()
        return Assessment([tag for _, tag in numbers], rejected)

    def describe(self) -> str:
        return f"numerical {self.order}"
