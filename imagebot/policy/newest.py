"""The newest-build rule (extension ``policy.newestBuild: {}``): the tag whose image was built last.

Build times are data handed in (``with_created``): the scan reads them from the registry (the OCI
``org.opencontainers.image.created`` annotation, else the image config's ``created``) and caches them
per digest; ``policy eval`` reads them from a tags file. Equal times go to the alphabetically greatest
tag, so a ``latest`` and a SHA tag pushed together tie and must be told apart with filterTags.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from imagebot.policy.explain import Assessment, Outcome


class NewestBuildRule:
    __slots__ = ("created",)

    def __init__(self, created: Mapping[str, datetime] | None = None) -> None:
        # aware datetimes only: a naive one is taken as UTC, so that every pair compares
        self.created = {tag: t if t.tzinfo else t.replace(tzinfo=UTC) for tag, t in (created or {}).items()}

    def with_created(self, created: Mapping[str, datetime]) -> NewestBuildRule:
        return NewestBuildRule(created)

    def _key(self, tag: str) -> tuple[datetime, str]:
        return self.created[tag], tag

    def latest(self, values: Iterable[str]) -> str | None:
        return max((v for v in values if v in self.created), key=self._key, default=None)

    def assess(self, values: Iterable[str]) -> Assessment:
        distinct = set(values)
        ranked = sorted((v for v in distinct if v in self.created), key=self._key, reverse=True)
        rejected = {v: (Outcome.NO_BUILD_TIME, "no build time known") for v in distinct if v not in self.created}
        return Assessment(ranked, rejected)

    def describe(self) -> str:
        return "newestBuild"
