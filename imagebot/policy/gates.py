"""Extensions that make a ranked tag qualify or not: ``spec.minimumAge`` and ``spec.platforms``.

Pure: the times and platform sets are data handed in. The scan walks a policy's ranked tags best
first and stops at the first that qualifies, so it reads the registry only for the tags it judges.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from imagebot.policy.errors import PolicyError
from imagebot.policy.explain import Outcome, Verdict

MAX_PLATFORMS = 32
_PLATFORM = re.compile(r"^([a-z0-9]+)/([a-z0-9_]+)(?:/([a-z0-9.]+))?$")


@dataclass(frozen=True, order=True)
class Platform:
    """os/architecture[/variant], as an image index's `platform` or an image config states it."""

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        match = _PLATFORM.match(text) if isinstance(text, str) else None
        if match is None:
            raise PolicyError(f"platform {text!r} is not os/architecture[/variant], e.g. linux/arm64 or linux/arm/v7")
        return cls(match.group(1), match.group(2), match.group(3))

    def serves(self, wanted: Platform) -> bool:
        """A wanted platform without a variant is served by any variant of its architecture."""
        return (self.os, self.architecture) == (wanted.os, wanted.architecture) and (
            wanted.variant is None or self.variant == wanted.variant)

    def __str__(self) -> str:
        return f"{self.os}/{self.architecture}" + (f"/{self.variant}" if self.variant else "")


def parse_platforms(values: Iterable[str]) -> tuple[Platform, ...]:
    values = list(values)
    if len(values) > MAX_PLATFORMS:
        raise PolicyError(f"platforms lists {len(values)} entries; the limit is {MAX_PLATFORMS}")
    return tuple(Platform.parse(v) for v in values)


def format_age(minimum: timedelta) -> str:
    """72h, 90m, 45s: how the user most likely wrote it."""
    seconds = int(minimum.total_seconds())
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def format_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Gates:
    minimum_age: timedelta | None = None
    platforms: tuple[Platform, ...] = ()

    def __bool__(self) -> bool:
        return self.minimum_age is not None or bool(self.platforms)

    def describe(self) -> list[str]:
        parts = []
        if self.minimum_age is not None:
            parts.append(f"minimumAge {format_age(self.minimum_age)}")
        if self.platforms:
            parts.append("platforms " + ",".join(str(p) for p in self.platforms))
        return parts

    def ready_at(self, seen: datetime) -> datetime:
        assert self.minimum_age is not None
        return _aware(seen) + self.minimum_age

    def judge(self, tag: str, now: datetime, seen: datetime | None = None,
              served: Iterable[Platform] | None = None) -> Judgement:
        """Whether `tag` qualifies: serving `served` (for platforms), first seen at `seen` (for minimumAge).

        Platforms first: a tag that will never qualify is not reported as waiting."""
        if self.platforms:
            if served is None:
                return Judgement(tag, Outcome.MISSING_PLATFORM, "its platforms are unknown")
            offered = list(served)
            missing = [str(p) for p in self.platforms if not any(s.serves(p) for s in offered)]
            if missing:
                have = ", ".join(sorted(str(s) for s in offered)) or "none"
                return Judgement(tag, Outcome.MISSING_PLATFORM, f"lacks {', '.join(missing)} (serves {have})")
        if self.minimum_age is not None:
            if seen is None:
                return Judgement(tag, Outcome.TOO_NEW, "when it appeared is unknown")
            ready = self.ready_at(seen)
            if ready > _aware(now):
                return Judgement(tag, Outcome.TOO_NEW,
                                 f"waits until {format_time(ready)} (minimumAge {format_age(self.minimum_age)})",
                                 ready)
        return Judgement(tag, None)


@dataclass(frozen=True)
class Judgement:
    tag: str
    failed: Outcome | None  # None: the tag qualifies
    detail: str = ""
    ready_at: datetime | None = None  # minimumAge: when it comes of age


@dataclass
class Gated:
    """The walk down a ranked list: the selected tag and the better ones that did not qualify."""

    selected: str | None = None
    passed_over: list[Judgement] = field(default_factory=list)

    @property
    def waiting(self) -> list[Judgement]:
        """Better tags that only need time, best first."""
        return [j for j in self.passed_over if j.ready_at is not None]

    @property
    def wake_at(self) -> datetime | None:
        """When the next better tag comes of age: the selection may change then without a rescan."""
        return min((j.ready_at for j in self.waiting if j.ready_at is not None), default=None)


def gate_verdicts(verdicts: Sequence[Verdict], gates: Gates, now: datetime,
                  seen: Mapping[str, datetime], served: Mapping[str, Iterable[Platform]]) -> list[Verdict]:
    """Apply the gates to a Policy.explain() list: ranked tags that fail lose their rank; the rest renumber."""
    if not gates:
        return list(verdicts)
    ranked = [v for v in verdicts if v.rank is not None]
    others = [v for v in verdicts if v.rank is None]
    kept: list[Verdict] = []
    failed: list[Verdict] = []
    for verdict in ranked:
        judgement = gates.judge(verdict.tag, now, seen.get(verdict.tag), served.get(verdict.tag))
        if judgement.failed is None:
            rank = len(kept) + 1
            kept.append(Verdict(verdict.tag, Outcome.SELECTED if rank == 1 else Outcome.RANKED, verdict.detail, rank))
        else:
            failed.append(Verdict(verdict.tag, judgement.failed, judgement.detail))
    return kept + sorted(failed + others, key=lambda v: v.tag)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
