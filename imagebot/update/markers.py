"""Flux's image policy markers: `# {"$imagepolicy": "NAMESPACE:NAME[:tag|:name|:digest]"}`."""

from __future__ import annotations

import json
from bisect import bisect_left
from dataclasses import dataclass
from typing import Literal

SHORTHAND = "$imagepolicy"
TOKEN = b"$imagepolicy"  # files without these bytes are never parsed

Field = Literal["image", "tag", "name", "digest"]
_SUFFIXES: dict[str, Field] = {"tag": "tag", "name": "name", "digest": "digest"}


@dataclass(frozen=True)
class Marker:
    setter: str  # as written in the comment
    policy: str  # resolved "NAMESPACE:NAME"
    field: Field


class InvalidMarker(ValueError):
    """A comment meant as a marker (it names `$imagepolicy`) that cannot be read."""


def parse_comment(comment: str, default_namespace: str) -> Marker | None:
    """Read a comment's text (starting at its first `#`). None when it is not a marker at all."""
    if SHORTHAND not in comment:
        return None
    body = comment.lstrip("#").strip()
    if not body.startswith("{"):
        return None
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as err:
        raise InvalidMarker(f"marker comment is not valid JSON: {err.msg}") from None
    if not isinstance(obj, dict) or SHORTHAND not in obj:
        return None
    if not all(isinstance(v, str) for v in obj.values()):
        raise InvalidMarker("marker values must be strings")
    return parse_setter(obj[SHORTHAND], default_namespace)


def parse_setter(setter: str, default_namespace: str) -> Marker:
    """`NS:NAME`, `NS:NAME:tag|name|digest`, or `NAME` (our extension: the default namespace).

    Two parts are always `NS:NAME`, as in Flux, so a policy named `tag` stays addressable.
    """
    parts = setter.split(":")
    if any(not p for p in parts) or len(parts) > 3:
        raise InvalidMarker(f"setter {setter!r} is not NAMESPACE:NAME[:tag|:name|:digest]")
    field: Field = "image"
    if len(parts) == 3:
        suffix = _SUFFIXES.get(parts[2])
        if suffix is None:
            raise InvalidMarker(f"setter {setter!r}: unknown suffix {parts[2]!r} (use tag, name or digest)")
        field = suffix
    namespace, name = (default_namespace, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    return Marker(setter=setter, policy=f"{namespace}:{name}", field=field)


class Shorthands:
    """Where SHORTHAND stands in a text, to skip the comment reading of the (many) places without it."""

    __slots__ = ("_at", "_below", "_line_starts", "_text")

    def __init__(self, text: str) -> None:
        self._at: list[int] = []
        self._line_starts: list[int] = []
        self._below: set[int] = set()  # start of the line after each line holding it
        at = text.find(SHORTHAND)
        while at >= 0:
            self._at.append(at)
            self._line_starts.append(text.rfind("\n", 0, at) + 1)
            eol = text.find("\n", at)
            self._below.add(len(text) + 1 if eol < 0 else eol + 1)
            at = text.find(SHORTHAND, at + 1)
        self._text = text

    def after(self, pos: int) -> bool:
        """SHORTHAND stands between `pos` and the next newline."""
        i = bisect_left(self._at, pos)
        return i < len(self._at) and self._line_starts[i] <= pos

    def above(self, pos: int) -> bool:
        """SHORTHAND stands on the line before the one holding `pos`."""
        return bool(self._below) and self._text.rfind("\n", 0, pos) + 1 in self._below
