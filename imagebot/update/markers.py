"""Flux's image policy markers: `# {"$imagepolicy": "NAMESPACE:NAME[:tag|:name|:digest]"}`."""

from __future__ import annotations

import json
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
