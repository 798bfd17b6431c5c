"""The ``order`` field shared by the alphabetical and numerical rules."""

from __future__ import annotations

from imagebot.policy.errors import PolicyError

ASC = "asc"
DESC = "desc"


def parse_order(kind: str, order: str | None) -> str:
    """``asc`` or ``desc``; empty means ``asc``. Case is ignored, as Flux upper-cases the field."""
    normalized = (order or ASC).lower()
    if normalized not in (ASC, DESC):
        raise PolicyError(f"{kind} order {order!r} is not valid: expected 'asc' or 'desc'")
    return normalized
