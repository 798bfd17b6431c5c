"""Semantic versions as Masterminds semver v3 reads them, reduced to sort keys.

A parsed version is a plain tuple ``(major, minor, patch, release, prerelease)`` whose natural
tuple order is semver precedence: ``release`` is 1 for a release and 0 for a prerelease (which
ranks below its release), and ``prerelease`` holds one ``(0, number)`` or ``(1, text)`` pair per
dot-separated identifier (numbers rank below text, a shorter list below a longer one). Build
metadata is dropped: it does not affect precedence. Tuples keep parsing 100,000 tags cheap.

Two grammars:
- Flux's (``version.ParseVersion`` of fluxcd/pkg/version v0.8.0 and later, so Flux 2.7 and
  later; imagebot's default): a tag with at least two dots, read by Masterminds' lenient
  ``NewVersion``. So ``2024.01.15`` (leading zeros), ``1.2-rc.1`` (1.2.0-rc.1) and
  ``18.6-alpine3.24`` (18.6.0-alpine3.24) are versions, ``16`` and ``3.19`` are not;
- loose (Masterminds ``NewVersion`` alone, imagebot's ``semver.strict: false``): also ``16``,
  ``3.19`` and ``v16``; missing parts are 0.
Both take one optional lowercase ``v``, numbers that fit a uint64, and a prerelease whose numeric
identifiers have no leading zero.
"""

from __future__ import annotations

import re

VersionKey = tuple  # (major, minor, patch, release, prerelease); see the module docstring

_U64_MAX = 0xFFFF_FFFF_FFFF_FFFF  # Go parses segments as uint64; larger values are not versions

# A prerelease identifier: a number without leading zeros, or any [0-9A-Za-z-] run with a non-digit.
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_PRE = rf"(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?"
_BUILD = r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"

LOOSE = _LOOSE = re.compile(rf"v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?{_PRE}{_BUILD}").fullmatch


def _prerelease_key(pre: str) -> tuple:
    parts = []
    for ident in pre.split("."):
        # Go compares an identifier as a number only when it parses as a uint64.
        if ident.isdigit() and (len(ident) < 20 or int(ident) <= _U64_MAX):
            parts.append((0, int(ident)))
        else:
            parts.append((1, ident))
    return tuple(parts)


def version_key(major: str, minor: str | None, patch: str | None, pre: str | None) -> VersionKey | None:
    """The key of the groups LOOSE matched, or None when a number does not fit a uint64."""
    too_long = len(major) > 19 or (minor and len(minor) > 19) or (patch and len(patch) > 19)
    if too_long and max(int(major), int(minor or 0), int(patch or 0)) > _U64_MAX:
        return None
    if pre is None:
        return (int(major), int(minor or 0), int(patch or 0), 1, ())
    return (int(major), int(minor or 0), int(patch or 0), 0, _prerelease_key(pre))


def parse_flux(tag: str) -> VersionKey | None:
    """The version Flux reads in ``tag`` (``v1.2.3``, ``2024.01.15``, ``1.2-rc.1``), or None.

    Flux splits the tag on its first two dots and wants three parts before parsing it leniently.
    """
    if tag.count(".") < 2:
        return None
    m = _LOOSE(tag)  # parse_loose, inlined: this runs once per tag of a repository
    if m is None:
        return None
    return version_key(m[1], m[2], m[3], m[4])


def parse_loose(tag: str) -> VersionKey | None:
    """The version Masterminds' lenient parser reads in ``tag`` (``16``, ``3.19``, ``22.04``), or None."""
    m = _LOOSE(tag)
    if m is None:
        return None
    return version_key(m[1], m[2], m[3], m[4])


def is_prerelease(version: VersionKey) -> bool:
    return version[3] == 0


def format_version(version: VersionKey) -> str:
    """The canonical text of a parsed version (no ``v``, no build metadata)."""
    text = f"{version[0]}.{version[1]}.{version[2]}"
    if version[3] == 0:
        text += "-" + ".".join(str(value) for _, value in version[4])
    return text
