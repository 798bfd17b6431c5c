"""Go-style durations (`1m30s`, `5m`, `1h`, `500ms`) as Flux's `interval` and `timeout` fields use them."""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string; raises ValueError saying what is expected."""
    if not isinstance(text, str):
        raise ValueError(f"expected a duration such as '5m' or '1h30m', got {text!r}")
    body = text.strip()
    if body in ("0", ""):
        if body == "0":
            return 0.0
        raise ValueError("expected a duration such as '5m' or '1h30m', got an empty string")
    pos, total = 0, 0.0
    for match in _PART.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(body) or pos == 0:
        raise ValueError(f"expected a duration such as '5m' or '1h30m', got {text!r}")
    return total


def format_duration(seconds: float) -> str:
    whole = int(seconds)
    if whole != seconds or whole == 0:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v)
