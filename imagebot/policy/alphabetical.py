"""The alphabetical rule (``policy.alphabetical``): byte-wise order; asc picks the greatest tag,
desc the least. Comparing Python strings by code point is the same as comparing their UTF-8 bytes."""

from __future__ import annotations

from collections.abc import Iterable

from imagebot.policy.explain import Assessment
from imagebot.policy.order import ASC, parse_order


class AlphabeticalRule:
    __slots__ = ("order",)

    def __init__(self, order: str | None = None) -> None:
        self.order = parse_order("alphabetical", order)

    def latest(self, values: Iterable[str]) -> str | None:
        pick = max if self.order == ASC else min
        return pick(values, default=None)

    def assess(self, values: Iterable[str]) -> Assessment:
        return Assessment(sorted(set(values), reverse=self.order == ASC), {})

    def describe(self) -> str:
        return f"alphabetical {self.order}"
