"""Selection under the extensions that need more than tag names: newestBuild, minimumAge and platforms.

The policy package ranks and judges plain values; this module fetches those values. Build times and
platforms are read from the registry once per digest and kept in the state database (digests are
immutable), so a rescan of unchanged tags reads nothing. First sightings of tags come from the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from imagebot.policy.gates import Judgement, Platform
from imagebot.store import ImageFacts

if TYPE_CHECKING:
    from imagebot.policy import Policy
    from imagebot.registry import AccessOptions, ImageReference, RegistryClient
    from imagebot.store import FirstSeen, Store

log = logging.getLogger("imagebot.scan")

# newestBuild reads a manifest (and often a config) per candidate tag it has not seen before. When more
# tags match, the newest this-many are considered (the tags seen last, then by name, greatest first);
# older ones without a cached build time are left out, with a warning, until filterTags narrows them.
NEWEST_BUILD_CAP = 1000
# minimumAge and platforms judge ranked tags best first and stop at the first that qualifies; a
# policy whose best this-many tags all fail selects nothing, so that one scan stays bounded.
GATE_CAP = 100


@dataclass
class Selected:
    tag: str | None
    passed_over: list[Judgement] = field(default_factory=list)  # better tags that did not qualify
    note: str | None = None  # a warning for the user (the newestBuild cap was hit)
    examined: int = 0

    @property
    def waiting(self) -> list[Judgement]:
        return [j for j in self.passed_over if j.ready_at is not None]

    @property
    def wake_at(self) -> datetime | None:
        return min((j.ready_at for j in self.waiting if j.ready_at is not None), default=None)


class Facts:
    """Build times and platforms of one repository's tags: the store first, the registry for the rest."""

    def __init__(self, store: Store, client: RegistryClient, ref: ImageReference,
                 options: Callable[[], AccessOptions], now: Callable[[], datetime]) -> None:
        self.store, self.client, self.ref, self._options, self._now = store, client, ref, options, now
        self.image = str(ref)
        self.digests = store.tag_digests(self.image)
        self.known: dict[str, ImageFacts] = {}

    def cached(self, tags: Sequence[str], platforms: bool) -> None:
        """Load what the store holds for `tags` into `known`."""
        by_digest = self.store.facts(self.digests[t] for t in tags if t in self.digests)
        for tag in tags:
            facts = by_digest.get(self.digests.get(tag, ""))
            if facts is not None and not (platforms and facts.platforms is None):
                self.known[tag] = facts

    async def read(self, tags: Sequence[str], platforms: bool) -> None:
        """Read the facts of `tags` not yet known; a tag deleted since the listing is left unknown."""
        from imagebot.registry import NotFound
        from imagebot.registry.listed import read_listed

        missing = [t for t in tags if t not in self.known]
        if not missing:
            return
        options = self._options()
        reads: list[tuple[str, str, ImageFacts]] = []

        async def one(tag: str) -> None:
            try:
                read = await read_listed(lambda: self.client.image_facts(self.ref, tag, options, platforms=platforms))
            except NotFound:
                return
            facts = ImageFacts(None if read.created is None else read.created.timestamp(), read.platforms)
            reads.append((tag, read.digest, facts))
            self.digests[tag] = read.digest
            self.known[tag] = facts

        outcomes = await asyncio.gather(*(one(tag) for tag in missing), return_exceptions=True)
        if reads:  # kept even when some reads failed: the next scan need not read them again
            self.store.record_reads(self.image, reads, self._now().timestamp())
        failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failed is not None:
            raise failed

    def created(self, tag: str) -> datetime | None:
        facts = self.known.get(tag)
        return None if facts is None or facts.created is None else datetime.fromtimestamp(facts.created, UTC)

    def platforms(self, tag: str) -> list[Platform] | None:
        facts = self.known.get(tag)
        if facts is None or facts.platforms is None:
            return None
        return [Platform.parse(p) for p in facts.platforms if _parsable(p)]


async def select(policy: Policy, tags: Sequence[str], facts: Facts, seen: dict[str, FirstSeen],
                 now: datetime, cap: int = NEWEST_BUILD_CAP) -> Selected:
    """The best tag of `tags` that qualifies, reading build times and platforms as needed."""
    gates = policy.gates
    note = None
    if policy.newest_build:
        candidates = policy.candidates(tags)
        facts.cached(candidates, platforms=False)
        unknown = [t for t in candidates if t not in facts.known]
        if len(candidates) > cap:
            # The newest `cap` candidates are considered, read when not cached; older ones only if cached.
            # The same ones each scan, so that a rescan of unchanged tags reads nothing.
            never = datetime.min.replace(tzinfo=UTC).timestamp()
            newest = set(sorted(candidates, key=lambda t: (seen[t].at if t in seen else never, t), reverse=True)[:cap])
            left = [t for t in unknown if t not in newest]
            unknown = [t for t in unknown if t in newest]
            if left:
                note = (f"newestBuild: {len(candidates)} tags match; considered the newest {cap} (by first seen, "
                        f"then name) and left {len(left)} without a known build time out (the cap is {cap}); "
                        "narrow spec.filterTags.pattern to the tags you deploy")
                log.warning("%s: %s", facts.image, note, extra={"repository": facts.image})
        await facts.read(unknown, platforms=bool(gates.platforms))
        created = {t: c for t in candidates if (c := facts.created(t)) is not None}  # known: cached or read
        ranked = policy.with_created(created).ranked(tags)
    else:
        ranked = policy.ranked(tags)
    if not gates:
        return Selected(ranked[0] if ranked else None, note=note)

    result = Selected(None, note=note)
    for tag in ranked[:GATE_CAP]:
        result.examined += 1
        first_seen: datetime | None = None
        if gates.minimum_age is not None:
            sighting = seen.get(tag)
            # never recorded (a suspended repository's stored tags): as seen now, unless built earlier
            first_seen = now if sighting is None else datetime.fromtimestamp(sighting.at, UTC)
            if sighting is None or sighting.initial:  # there at the first scan: its build time says how long
                facts.cached([tag], platforms=bool(gates.platforms))
                await facts.read([tag], platforms=bool(gates.platforms))
                first_seen = min(first_seen, facts.created(tag) or first_seen)
        served = None
        if gates.platforms:  # read for a waiting tag too: one that will never qualify does not wait
            facts.cached([tag], platforms=True)
            await facts.read([tag], platforms=True)
            served = facts.platforms(tag)
        judgement = gates.judge(tag, now, first_seen, served)
        if judgement.failed is None:
            result.tag = tag
            return result
        result.passed_over.append(judgement)
    if len(ranked) > GATE_CAP:
        result.note = ((note + "; ") if note else "") + (
            f"none of the best {GATE_CAP} tags qualifies (the limit judged per scan); {len(ranked) - GATE_CAP} "
            "more were not judged")
    return result


def _parsable(name: str) -> bool:
    try:
        Platform.parse(name)
    except Exception:
        return False
    return True
