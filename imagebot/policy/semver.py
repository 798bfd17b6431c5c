"""The semver rule: the highest version inside a Masterminds range (``policy.semver``).

Strict (the default) reads versions as Flux 2.7 and later do: a tag with at least two dots, parsed
leniently, so ``2024.01.15`` and ``1.2-rc.1`` count and ``16.4`` does not. Loose
(``semver.strict: false``, our extension) drops the two-dot rule, so ``16``, ``16.4`` and
``3.19`` count too. Equal versions (``1.0.0``, ``v1.0.0``, ``1.0.0+b``) tie, and the
lexicographically greatest tag wins whatever the input order, as in Flux, whose tags come sorted
descending and whose first greatest version wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from imagebot.policy.constraint import compile_constraint
from imagebot.policy.explain import Assessment, Outcome
from imagebot.policy.version import LOOSE, VersionKey, format_version, parse_flux, parse_loose, version_key

# MAJOR.MINOR.PATCH in ASCII digits, none past a uint64 (19 digits at most), each a whole line of the
# joined tags: what LOOSE reads as a release (a plain version, as most tags of most repositories are).
_PLAIN = re.compile(r"^(([0-9]{1,19})\.([0-9]{1,19})\.([0-9]{1,19}))$", re.MULTILINE).findall
_PLAIN_TAG = re.compile(r"[0-9]{1,19}\.[0-9]{1,19}\.[0-9]{1,19}").fullmatch


def _mostly_plain(tags: list[str]) -> bool:
    """Whether at least half of 16 tags spread over the list are plain versions. Either way the result is
    the same; searching the joined tags for plain ones pays only when most are (it costs a third of a
    microsecond a tag, and a 100,000-tag corpus of suffixed builds has 3 % plain)."""
    sample = tags[::max(1, len(tags) // 16)][:16]
    return sum(1 for tag in sample if _PLAIN_TAG(tag)) * 2 >= len(sample) > 0


class SemverRule:
    __slots__ = ("_admits", "_parse", "constraint", "strict")

    def __init__(self, range_: str, strict: bool = True) -> None:
        self.constraint = compile_constraint(range_)
        self.strict = strict
        self._parse = parse_flux if strict else parse_loose
        self._admits = self.constraint.admits

    def latest(self, values: Iterable[str]) -> str | None:
        tags = values if isinstance(values, list) else list(values)
        best: VersionKey | None = None
        best_tag: str | None = None
        rest: Iterable[str] = tags
        joined = "\n".join(tags) if _mostly_plain(tags) else ""
        if joined and joined.count("\n") == len(tags) - 1:  # one tag per line (else a tag holds a newline)
            plain = _PLAIN(joined)
            if plain:
                best, best_tag = self._best_plain(plain)
                if len(plain) < len(tags):
                    found = {name for name, _, _, _ in plain}
                    rest = [tag for tag in tags if tag not in found]
                else:
                    rest = ()
        return self._best_of(rest, best, best_tag)

    def _best_plain(self, plain: list[tuple[str, str, str, str]]) -> tuple[VersionKey | None, str | None]:
        """The best admitted MAJOR.MINOR.PATCH tag, its key built in C (map, zip, max): a Python loop over
        500 tags was the largest part of a repository's scan after its request. Equal versions (leading
        zeros) leave the greatest tag."""
        names, majors, minors, patches = zip(*plain, strict=True)
        keys = list(zip(map(int, majors), map(int, minors), map(int, patches), names, strict=True))
        top = max(keys)
        if self._admits((top[0], top[1], top[2], 1, ())):  # the usual case: the newest is in range
            return (top[0], top[1], top[2], 1, ()), top[3]
        for major, minor, patch, name in sorted(keys, reverse=True):
            if self._admits((major, minor, patch, 1, ())):
                return (major, minor, patch, 1, ()), name
        return None, None

    def _best_of(self, values: Iterable[str], best: VersionKey | None, best_tag: str | None) -> str | None:
        """The best tag of `values` and the best so far, tag by tag."""
        # parse_flux / parse_loose inlined, and a version whose major number is below the best so far
        # passed over before it is parsed or its key built: most tags of a long list are.
        admits, strict = self._admits, self.strict
        best_major = -1 if best is None else best[0]
        below: set[str] = set()  # major numbers as spelt, below the best so far (and so below any later best)
        for tag in values:
            head, _, rest = tag.partition(".")  # the major number, if the tag is a version without a v
            if strict and "." not in rest:  # Flux wants two dots
                continue
            if head in below:
                continue
            # (below 2 the test would pass over next to nothing: ^1, ~0.3)
            if best_major > 1 and len(head) < 20 and head.isdecimal() and int(head) < best_major:
                below.add(head)
                continue
            m = LOOSE(tag)
            if m is None:
                continue
            major = m[1]
            if len(major) < 20 and int(major) < best_major:
                continue
            version = version_key(major, m[2], m[3], m[4])
            if version is None:
                continue
            # Compare first: the range is checked only for a tag that would beat the current best.
            if best is not None and (version < best or (version == best and tag <= best_tag)):
                continue
            if admits(version):
                best, best_tag, best_major = version, tag, version[0]
        return best_tag

    def assess(self, values: Iterable[str]) -> Assessment:
        qualifying = []
        rejected: dict[str, tuple[Outcome, str]] = {}
        for tag in values:
            version = self._parse(tag)
            if version is None:
                rejected[tag] = (Outcome.NOT_A_VERSION, self._why_not_a_version(tag))
            elif self._admits(version):
                qualifying.append((version, tag))
            elif version[3] == 0 and not self.constraint.prerelease:
                rejected[tag] = (
                    Outcome.PRERELEASE,
                    f"{format_version(version)} is a prerelease and range {self.constraint.text!r} "
                    "has no prerelease comparator (write e.g. '>=1.0.0-0' to include prereleases)",
                )
            else:
                rejected[tag] = (Outcome.OUT_OF_RANGE, self._why_out_of_range(version))
        qualifying.sort(reverse=True)
        return Assessment([tag for _, tag in qualifying], rejected)

    def _why_not_a_version(self, tag: str) -> str:
        if self.strict:
            loose = parse_loose(tag)
            if loose is not None:
                return (
                    f"not a version for Flux, which wants two dots; with semver.strict: false (--loose) it reads "
                    f"as {format_version(loose)}"
                )
            return "not a version ([v]MAJOR.MINOR.PATCH[-prerelease][+build], leading zeros allowed)"
        return "not a version (expected [v]MAJOR[.MINOR[.PATCH]][-prerelease][+build])"

    def _why_out_of_range(self, version: tuple) -> str:
        text = format_version(version)
        groups = self.constraint.groups
        if len(groups) == 1:
            failing = ", ".join(c.text for c in groups[0].failing(version))
            return f"{text} does not satisfy {failing}"
        return f"{text} is outside {self.constraint.text!r}"

    def describe(self) -> str:
        return f"semver {self.constraint.text}" + ("" if self.strict else " (loose)")
