"""Write a new value into the original bytes, touching only the old scalar's span."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

STR_TAG = "tag:yaml.org,2002:str"
# YAML 1.1 booleans that ruamel's resolver does not list; Kubernetes tools read YAML 1.1.
_EXTRA_NON_STRINGS = frozenset({"y", "Y", "n", "N"})
_UNSAFE_PLAIN = re.compile(r"""^[-?:,\[\]{}#&*!|>'"%@`\s]|: |\s#|:$|\s$|[\x00-\x1f\x7f\ufeff]""")
_FLOW_INDICATORS = re.compile(r"[,\[\]{}:]")


@dataclass(frozen=True)
class Edit:
    """Replace characters [start, end) of the text with `text`."""

    start: int
    end: int
    text: str


@lru_cache(maxsize=4096)
def plain_is_string(value: str) -> bool:
    """True when YAML 1.1 and 1.2 both read `value`, written plain, as this very string."""
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.resolver import VersionedResolver

    if value in _EXTRA_NON_STRINGS:
        return False
    for version in ((1, 1), (1, 2)):
        tag = VersionedResolver(version=version).resolve(ScalarNode, value, (True, False))
        if str(tag) != STR_TAG:
            return False
    return True


def can_be_plain(value: str, in_flow: bool) -> bool:
    if not value or _UNSAFE_PLAIN.search(value):
        return False
    if in_flow and _FLOW_INDICATORS.search(value):
        return False
    return plain_is_string(value)


def render_scalar(value: str, style: str | None, in_flow: bool) -> str:
    """The YAML text for `value`, keeping the old quote style; plain only when it reads back as a string."""
    if style == "'" and value.isprintable():
        return "'" + value.replace("'", "''") + "'"
    if style is None and can_be_plain(value, in_flow):
        return value
    return _double_quoted(value)


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _double_quoted(value: str) -> str:
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif not ch.isprintable():
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def splice(data: bytes, text: str, edits: Sequence[Edit]) -> bytes:
    """Apply edits (character offsets into `text`, which is `data` decoded) to the bytes.

    The bytes between edits are copied from `data` itself, never re-encoded.
    """
    out: list[bytes] = []
    byte_pos = 0
    char_pos = 0
    for edit in sorted(edits, key=lambda e: e.start):
        if edit.start < char_pos:
            raise ValueError("overlapping edits")
        byte_start = byte_pos + len(text[char_pos : edit.start].encode("utf-8"))
        byte_end = byte_start + len(text[edit.start : edit.end].encode("utf-8"))
        out.append(data[byte_pos:byte_start])
        out.append(edit.text.encode("utf-8"))
        byte_pos, char_pos = byte_end, edit.end
    out.append(data[byte_pos:])
    return b"".join(out)
